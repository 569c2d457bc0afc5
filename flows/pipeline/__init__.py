"""The Prefect shell: the only package that imports prefect (flow, tasks, deployment, Dask)."""

# Importing any module of it (the Python API: ``from flows.pipeline.flow import ingest``) first
# sets newsflow's Prefect defaults (flows/pipeline/env.py: no telemetry, a patient temporary API)
# where the user set nothing, before Prefect is imported: it reads its settings at import.
from flows.pipeline.env import prefect_defaults

prefect_defaults()
