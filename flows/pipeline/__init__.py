"""The Prefect shell: the only package that imports prefect (flow, tasks, deployment, Dask)."""
