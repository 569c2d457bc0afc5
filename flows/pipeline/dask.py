"""Parse on a Dask cluster: one Prefect task run ``parse-chunk`` per chunk, through prefect-dask.

Only the pure part of staging runs on the cluster: a worker reads its chunk's files (at the same
paths as the flow machine: a shared filesystem), parses and normalizes them, and sends the chunk's
Arrow tables back. The flow process writes each batch into its own staging folder, in input
order, and the load (the single DuckDB writer) stays in the flow process. At most
``IN_FLIGHT_PER_THREAD`` chunks per worker thread are in flight, so memory stays flat.

Used only from the ``ingest`` flow (needs the ``dask`` extra: prefect-dask and distributed).
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import TaskRunContext
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.normalize.batches import (
    CHUNK_BYTES,
    ChunkSummary,
    chunk_bounds,
    chunk_files,
    chunk_tables,
    summarize,
    write_batch,
)
from flows.normalize.profile import Profile
from flows.records import StageFailed

try:
    import distributed
    from prefect_dask import DaskTaskRunner
except ImportError as exc:  # the optional extra is not installed
    raise StageFailed(
        "extract", f"--dask-address needs the dask extra (pip install 'newsflow[dask]'): {exc}"
    ) from exc

LOCAL = "local"  # --dask-address local: a LocalCluster of ``workers`` processes on this machine
IN_FLIGHT_PER_THREAD = 2
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
logger = logging.getLogger(__name__)


def parse_chunk(
    batch: int,
    items: Sequence[tuple[str, str | None]],
    max_file_bytes: int,
    profile: Profile | None = None,
) -> dict[str, pa.Table]:
    """One chunk of (path, known sha256) -> its staging tables (runs on a Dask worker)."""
    return chunk_tables(items, max_file_bytes, profile=profile)


# Results stay in memory and travel back through Dask: nothing is written to result storage.
parse_chunk_task = task(
    parse_chunk,
    name="parse-chunk",
    task_run_name="parse-chunk-{batch}",
    cache_policy=NO_CACHE,
    persist_result=False,
)


def task_runner(address: str, workers: int) -> DaskTaskRunner:
    """The DaskTaskRunner for ``address``: a scheduler address, or ``local`` for a temporary
    LocalCluster of ``workers`` single-threaded processes on the loopback interface."""
    if address == LOCAL:
        return DaskTaskRunner(
            cluster_class=distributed.LocalCluster,
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": "127.0.0.1:0",  # any free port (8787 may be taken)
            },
        )
    return DaskTaskRunner(address=address)


def _worker_api_url(address: str) -> str | None:
    """The API URL to hand the workers, so they report task runs to this flow's API.

    None when PREFECT_API_URL is set (workers get it with the task's settings). A temporary
    (ephemeral) API has no such URL: hand them its local one, which only workers on this
    machine can reach (a cluster of several machines needs a Prefect server).
    """
    if PREFECT_API_URL.value():
        return None
    url = str(get_client(sync_client=True).api_url)
    host = urlsplit(address).hostname if "://" in address else None
    if address != LOCAL and host not in LOOPBACK:
        logger.warning(
            "Dask workers on other machines cannot reach the temporary Prefect API at %s: "
            "start a Prefect server and set PREFECT_API_URL (README: Scale-out on Dask)",
            url,
        )
    return url


def _connect(runner: DaskTaskRunner, address: str) -> distributed.Client:
    """The runner's client (starting the local cluster, or connecting to the scheduler)."""
    try:
        return runner.client
    except OSError as exc:
        message = f"cannot reach the Dask scheduler at {address}: {exc}"
        raise StageFailed("extract", message) from exc


def _check_workers_see(client: distributed.Client, path: str) -> None:
    """Fail early when a worker cannot see the sources (no shared filesystem at that path),
    instead of rejecting every file as unreadable."""
    if not os.path.exists(path):
        return
    seen = client.run(os.path.exists, path)
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise StageFailed(
            "extract",
            f"Dask worker(s) {', '.join(blind)} cannot read {path}: the sources must be on a "
            "filesystem shared by every worker, mounted at the same path",
        )


def _submit(runner: DaskTaskRunner, parameters: dict[str, Any], api_url: str | None) -> Any:
    """Submit one ``parse-chunk`` task run, as a task run of the flow.

    Outside the calling stage's task run context: prefect-dask ships the current contexts with
    every task, and a task run context carries that stage's parameters (here the whole work
    list, or the unpicklable generator this function is) to every worker.
    """

    def submit() -> Any:
        TaskRunContext.__var__.set(None)  # only in this copy of the context
        settings = temporary_settings(updates={PREFECT_API_URL: api_url}) if api_url else None
        with settings or nullcontext():
            return runner.submit(parse_chunk_task, parameters=parameters)

    return contextvars.copy_context().run(submit)


def stage_files_dask(
    paths: Sequence[tuple[str, str | None]],
    staging_dir: Path,
    *,
    address: str,
    workers: int,
    batch_size: int,
    max_file_bytes: int,
    chunk_bytes: int = CHUNK_BYTES,
    profile: Profile | None = None,
) -> Iterator[ChunkSummary]:
    """Like :func:`flows.normalize.batches.stage_files` (the same chunks), parsed on a Dask cluster.

    Yields each batch's summary in input order as soon as it is written to
    ``staging_dir/batch-NNNNNN``.
    """
    bounds = chunk_bounds(paths, chunk_files(batch_size), chunk_bytes)
    count = len(bounds)
    # each becomes Python objects only when it is submitted
    chunks = (paths[start:stop] for start, stop in bounds)
    if not count:
        return
    with ExitStack() as stack:
        # distributed logs every worker start and stop (and a harmless traceback when a local
        # cluster shuts down) at INFO; keep its warnings only while we use it.
        quiet = logging.getLogger("distributed")
        stack.callback(quiet.setLevel, quiet.level)
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.WARNING))
        runner = stack.enter_context(task_runner(address, workers))
        client = _connect(runner, address)
        _check_workers_see(client, paths[0][0])
        api_url = _worker_api_url(address)
        pending: deque[Any] = deque()
        submitted = 0
        for index in range(count):
            # Recomputed per batch: workers may join (or leave) a running cluster.
            window = max(2, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
            while submitted < count and len(pending) < window:
                parameters = {
                    "batch": submitted,
                    "items": next(chunks),
                    "max_file_bytes": max_file_bytes,
                    "profile": profile,
                }
                pending.append(_submit(runner, parameters, api_url))
                submitted += 1
            tables = pending.popleft().result()
            batch_dir = staging_dir / f"batch-{index:06d}"
            write_batch(tables, batch_dir)
            yield summarize(tables, str(batch_dir))
