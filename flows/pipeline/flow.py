"""Prefect shell: the ``ingest`` flow, one task per stage of :func:`flows.ingest.run_ingest`, and
the deployment that ``newsflow serve`` serves.

This package (with ``flows.pipeline.dask``) is the only one that imports Prefect.
The stage logic lives in the core; here each stage is wrapped in a task, the busy-warehouse stage
(``lock``) gets retries with backoff, and the run is published as artifacts.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from functools import partial
from typing import Any

from prefect import flow, get_run_logger, serve, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.runtime import flow_run
from prefect.schedules import Cron, Interval
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed, State
from prefect.tasks import exponential_backoff
from prefect.types.entrypoint import EntrypointType
from prefect.utilities.annotations import quote

from flows import ingest as run
from flows.ingest import OnProgress, Progress, Stager
from flows.normalize.batches import stage_files
from flows.pipeline.artifacts import failure_markdown, publish_artifacts, publish_data_tests
from flows.records import StageFailed
from flows.settings import Settings, from_values, load_settings

DEPLOYMENT_NAME = "newsflow"
LOCK_BACKOFF_SECONDS = 10  # retry delays 10, 20, 40, ... seconds (plus up to 30 % jitter)
OVERLAP = {
    "enqueue": ConcurrencyLimitStrategy.ENQUEUE,
    "cancel": ConcurrencyLimitStrategy.CANCEL_NEW,
}


class _NoStageTraceback(logging.Formatter):
    """The console's formatter, without the traceback of a :class:`StageFailed`: a stage that
    fails for a reason the user caused (a missing source, a busy warehouse) logs one line on
    the console; Prefect's API log (the UI) keeps the traceback."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and isinstance(record.exc_info[1], StageFailed):
            record = copy.copy(record)
            record.exc_info = record.exc_text = None
        return self.inner.format(record)


def quiet_stage_tracebacks() -> None:
    """Wrap the formatter of Prefect's console handlers in :class:`_NoStageTraceback` (once;
    again after Prefect set its logging up anew)."""
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        wrapped = isinstance(formatter, _NoStageTraceback)
        if isinstance(handler, PrefectConsoleHandler) and formatter is not None and not wrapped:
            handler.setFormatter(_NoStageTraceback(formatter))


quiet_stage_tracebacks()


def _lock_is_busy(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry the ``lock`` stage only when another run holds the warehouse."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, StageFailed) and error.stage == "lock"


def run_as_task(name: str, fn: Any, *args: Any, lock_retries: int = 0) -> Any:
    """Run one core stage as a Prefect task named after the stage.

    Only a busy warehouse is worth retrying: every other stage fails the same way twice.
    """
    options: dict[str, Any] = {"name": name, "cache_policy": NO_CACHE, "persist_result": False}
    if name == "lock" and lock_retries > 0:
        options.update(
            retries=lock_retries,
            retry_delay_seconds=exponential_backoff(backoff_factor=LOCK_BACKOFF_SECONDS),
            retry_jitter_factor=0.3,
            retry_condition_fn=_lock_is_busy,
        )
    # quote(): the stages pass whole file lists and plans (100,000s of items); Prefect would
    # otherwise walk every item of every argument looking for futures to track.
    return task(fn, **options)(*(quote(arg) for arg in args))


def _stager(settings: Settings) -> Stager:
    """Parse on the Dask cluster at ``settings.dask_address``, or in local worker processes."""
    if settings.dask_address:
        from flows.pipeline.dask import stage_files_dask

        return partial(stage_files_dask, address=settings.dask_address)
    return stage_files


class StrictFailed(StageFailed):
    """``strict`` saw rejected documents; the run was published and ``summary`` is its summary."""

    def __init__(self, summary: dict[str, Any], detail: str) -> None:
        super().__init__("strict", detail)
        self.summary = summary


# The parameters are the settings declared in flows/settings.py (Settings.parameters() gives
# their values), plus lock_retries; tests/test_settings.py checks the two stay in step.
@flow(name="ingest", log_prints=False, persist_result=False)
def ingest(
    sources: list[str] | None = None,
    warehouse: str | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    max_file_bytes: int | None = None,
    full_refresh: bool = False,
    prune: bool = False,
    lock_timeout: float | None = None,
    strict: bool = False,
    lock_retries: int = 0,
    dask_address: str | None = None,
    checkpoint_mb: int | None = None,
    duckdb_memory_mb: int | None = None,
    profile: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any] | State:
    """Load article front matter from ``sources`` into the DuckDB ``warehouse`` and build models.

    Each parameter but ``lock_retries`` is the setting of that name (docs/settings.md); None
    (False for the yes/no ones) leaves it to ``NEWSFLOW_*`` or the default.
    ``strict`` fails the run (after publishing) when a document was rejected. ``lock_retries``
    retries a busy warehouse with exponential backoff (10 s, 20 s, 40 s, ...), each attempt
    waiting ``lock_timeout`` seconds for the lock. ``dask_address`` parses on a Dask cluster
    (``tcp://host:8786``, or ``local`` for a LocalCluster of ``workers`` processes); the load
    stays in this process. ``profile`` and ``base_url`` say how the sources' front matter maps
    to the contract (docs/profiles.md).
    """
    values = dict(locals())
    del values["lock_retries"]
    quiet_stage_tracebacks()
    settings = load_settings(**from_values(values))
    logger = get_run_logger()
    logger.info("ingest %s -> %s", ", ".join(str(s) for s in settings.sources), settings.warehouse)
    if settings.dask_address:
        logger.info("parsing on the Dask cluster %s; loading here", settings.dask_address)
    logger.debug("settings: %s", settings)
    run_id = str(flow_run.id)
    try:
        summary = run.run_ingest(
            settings,
            run_stage=partial(run_as_task, lock_retries=lock_retries),
            flow_run_id=run_id,
            on_data_tests=publish_data_tests,
            stager=_stager(settings),
            on_progress=_on_progress or partial(_log_progress, logger),
        )
    except StageFailed as exc:
        create_markdown_artifact(failure_markdown(run_id, settings, exc), key="ingest-summary")
        return _failed(exc)
    publish_artifacts(settings, summary)
    logger.info(
        "loaded %d, unchanged %d, superseded %d, rejected %d of %d files",
        summary.files_loaded,
        summary.files_unchanged,
        summary.files_superseded,
        summary.files_rejected,
        summary.files_seen,
    )
    logger.debug("seconds per stage: %s", {k: round(v, 3) for k, v in summary.seconds.items()})
    rejected = summary.files_rejected + summary.files_still_rejected  # unread ones count too
    if settings.strict and rejected:
        return _failed(
            StrictFailed(
                summary.to_dict(),
                f"{rejected} document(s) rejected (the run was published); "
                f"see `newsflow rejections --warehouse {settings.warehouse}`",
            )
        )
    return summary.to_dict()


# The progress display of the caller of :func:`run_flow` (a callable is no flow parameter).
_on_progress: OnProgress | None = None


def _log_progress(logger: Any, progress: Progress) -> None:
    """Without a display (a deployment's run, the Python API): one log line per load group."""
    if progress.event == "loaded":
        logger.info(progress.line())


def run_flow(settings: Settings, on_progress: OnProgress | None = None) -> dict[str, Any]:
    """Run the flow ``ingest`` here with ``settings``: its summary, also when ``strict`` failed
    the run (the caller reports that); any other failure raises its StageFailed.
    ``on_progress`` shows the run's progress instead of the flow's per-group log lines."""
    global _on_progress
    _on_progress = on_progress
    try:
        state = ingest(**settings.parameters(), return_state=True)
    finally:
        _on_progress = None
    try:
        return state.result()
    except StrictFailed as exc:
        return exc.summary


def _failed(exc: StageFailed) -> State:
    """End the flow run Failed with the stage's message (``discover failed: ...``); a direct
    call of the flow still raises ``exc``."""
    return Failed(message=str(exc), data=exc)


# -- deployment ---------------------------------------------------------------------------------


def deployment_parameters(settings: Settings, lock_retries: int) -> dict[str, Any]:
    """The flow parameters for ``settings``: every value explicit, paths absolute."""
    return {**settings.parameters(absolute=True), "lock_retries": lock_retries}


def build_deployment(
    parameters: dict[str, Any],
    *,
    name: str = DEPLOYMENT_NAME,
    cron: str | None = None,
    interval: float | None = None,
    timezone: str | None = None,
    overlap: str = "enqueue",
) -> Any:
    """The ``ingest`` deployment: one schedule (cron or interval, or none: triggered runs only)
    and a deployment concurrency limit of 1, so two runs never overlap; a run that would
    (a late schedule, a manual trigger) waits for the slot (``enqueue``) or is cancelled."""
    schedules = []
    if cron is not None:
        schedules.append(Cron(cron, timezone=timezone))
    elif interval is not None:
        schedules.append(Interval(dt.timedelta(seconds=interval), timezone=timezone))
    return ingest.to_deployment(
        name=name,
        schedules=schedules,
        parameters=parameters,
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=OVERLAP[overlap]),
        description="Load article front matter into the DuckDB warehouse (newsflow serve).",
        tags=["newsflow"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def require_api() -> str:
    """The configured Prefect API URL, checked to answer; a temporary (ephemeral) API cannot
    schedule runs, so serving without a server would silently never run anything."""
    url = PREFECT_API_URL.value()
    if not url:
        raise StageFailed(
            "serve",
            "no Prefect server configured, and a temporary one cannot schedule runs. Start one "
            "with `.venv/bin/prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        raise StageFailed(
            "serve", f"the Prefect API at {url} does not answer ({error}); is the server running?"
        )
    return url


def serve_deployment(deployment: Any) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), polling the API for scheduled runs; each run
    executes in a subprocess. Stopping pauses the schedule so no late runs pile up meanwhile;
    serving again resumes it. Losing the API for good (Prefect's runner gives up after repeated
    failed polls) ends it with ``StageFailed("serve", ...)`` instead of a silent stop."""
    try:
        serve(deployment, pause_on_shutdown=True, print_starting_message=False)
    except Exception as exc:
        with get_client(sync_client=True) as client:
            down = client.api_healthcheck()
        if down is None:
            raise
        raise StageFailed(
            "serve",
            f"lost the Prefect API at {PREFECT_API_URL.value()} ({down}); start `newsflow serve` "
            "again once the server is back, or run it under a supervisor that restarts it",
        ) from exc
