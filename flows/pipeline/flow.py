"""Prefect shell: the ``ingest`` flow, one task per stage of :func:`flows.ingest.run_ingest`, and
the deployment that ``newsflow serve`` serves.

This package (with ``flows.pipeline.dask``) is the only one that imports Prefect.
The stage logic lives in the core; here each stage is wrapped in a task, the busy-warehouse stage
(``lock``) gets retries with backoff, and the run is published as artifacts.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
import os
import signal
import threading
import time
import urllib.request
from functools import partial
from typing import Any

from prefect import Flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.runtime import flow_run
from prefect.schedules import Cron, Interval
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
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
SERVE_PID_ENV = "NEWSFLOW_SERVE_PID"  # set by serve_deployment; its runs inherit it
PARENT_POLL_SECONDS = 0.5
HEARTBEAT_ENV = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")
_WATCHING = False  # die_with_serve armed in this process
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
# -- failure alerts -------------------------------------------------------------------------------

NOTIFY_ENV = "NEWSFLOW_NOTIFY_URL"  # `newsflow serve --notify-url` sets it for its runs


def alert_payload(flow_run: Any, state: State) -> dict[str, Any]:
    """The JSON an alert POSTs: the run (id, name, deployment), its state and the failed stage."""
    error = state.result(raise_on_failure=False) if state.is_failed() else None
    stage = error.stage if isinstance(error, StageFailed) else None
    return {
        "event": f"newsflow.run.{state.type.value.lower()}",
        "flow_run_id": str(flow_run.id),
        "flow_run_name": flow_run.name,
        "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
        "state": state.name,
        "stage": stage,
        "message": state.message,
        "parameters": {k: flow_run.parameters.get(k) for k in ("sources", "warehouse")},
    }


# Set when `serve` was told to stop: the runs it then kills are reported Crashed by Prefect's
# runner (whose hooks run in this process), and are no failure to alert about.
_serve_stopping = threading.Event()


def notify(flow: Any, flow_run: Any, state: State) -> None:  # Prefect passes them by name
    """A failed or crashed run POSTs :func:`alert_payload` to ``$NEWSFLOW_NOTIFY_URL`` (once;
    an unreachable receiver is logged, never fails the run further)."""
    url = os.environ.get(NOTIFY_ENV)
    if not url or _serve_stopping.is_set():
        return
    body = json.dumps(alert_payload(flow_run, state)).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as exc:
        logging.getLogger("newsflow.notify").warning("alert to %s failed: %s", url, exc)


class _OwnApiFlow(Flow):
    """A flow that, called directly (the Python API: ``ingest(...)``) with no Prefect API
    configured, runs against newsflow's own server (a running ``newsflow server``, else a
    temporary child that dies with the caller, even on ``kill -9``) rather than Prefect's own
    temporary API, which a killed caller leaks. A configured API (``PREFECT_API_URL``, the CLI's,
    a test harness's) is used as it is."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from flows.pipeline.server import prefect_api

        with prefect_api("temporary"):
            return super().__call__(*args, **kwargs)


def _own_api_flow(**options: Any) -> Any:
    """``@flow(**options)``, making an :class:`_OwnApiFlow`."""
    return lambda fn: _OwnApiFlow(fn=fn, **options)


@_own_api_flow(
    name="ingest",
    log_prints=False,
    persist_result=False,
    # Only with an alert URL (set before this module is imported: `serve` sets it, and its runs
    # inherit it): Prefect logs two lines per hook call on every failed run otherwise.
    on_failure=[notify] if os.environ.get(NOTIFY_ENV) else None,
    on_crashed=[notify] if os.environ.get(NOTIFY_ENV) else None,
)
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


def die_with_serve() -> None:
    """In a flow run that ``newsflow serve``'s runner started (a child process of serve): end
    this run, and with it its parser workers, as soon as serve is gone, whatever killed it
    (``kill -9`` included), so that no run outlives the serve that started it.

    Called when this module is imported, which in a run's process is when the runner's pickled
    flow is loaded: before the run talks to the API (whose server may have died with serve).
    Polls the parent pid from a daemon thread (``PR_SET_PDEATHSIG`` would follow the thread that
    spawned the run, not the process). A run that serve did not start returns at once. The load
    is atomic, so a run ended here leaves the warehouse as it was before its batch."""
    global _WATCHING
    serve = os.environ.get(SERVE_PID_ENV, "")
    if _WATCHING or not serve.isdigit() or int(serve) == os.getpid():
        return  # watching already, an ad-hoc run, or serve's own process
    _WATCHING = True
    parent = os.getppid()
    if parent != int(serve):
        try:
            os.kill(int(serve), 0)
        except ProcessLookupError:  # serve died before this run got here
            os.kill(os.getpid(), signal.SIGKILL)
        return  # started through another process: that one is not watched

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="newsflow-serve-watch", daemon=True).start()


def _log_progress(logger: Any, progress: Progress) -> None:
    """Without a display (a deployment's run, the Python API): one log line per load group."""
    if progress.event == "loaded":
        logger.info(progress.line())


def _ad_hoc_settings() -> dict[Any, Any]:
    """Prefect settings for a run started here rather than by a deployment: no flow-run
    heartbeats, unless the user set their frequency. Prefect's heartbeats feed the detection of
    crashed *deployment* runs; in a foreground run, stopping their thread costs up to 1 s at the
    end (it sleeps in 1 s steps before it sees the stop). ``serve``'s runs keep them."""
    if any(name in os.environ for name in HEARTBEAT_ENV):
        return {}
    return {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}


def run_flow(settings: Settings, on_progress: OnProgress | None = None) -> dict[str, Any]:
    """Run the flow ``ingest`` here with ``settings``: its summary, also when ``strict`` failed
    the run (the caller reports that); any other failure raises its StageFailed.
    ``on_progress`` shows the run's progress instead of the flow's per-group log lines."""
    global _on_progress
    _on_progress = on_progress
    try:
        with temporary_settings(_ad_hoc_settings()):
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


class _RunnerNoise(logging.Filter):
    """Keeps Prefect's runner lines that repeat every poll per queued run (``Aborted submission
    of flow run ... non-pending state``) off the console; Prefect's API log keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Aborted submission of flow run")


def quiet_runner_lines() -> None:
    """Add :class:`_RunnerNoise` to Prefect's console handlers (once)."""
    for handler in logging.getLogger().handlers + logging.getLogger("prefect").handlers:
        noisy = not any(isinstance(f, _RunnerNoise) for f in handler.filters)
        if isinstance(handler, PrefectConsoleHandler) and noisy:
            handler.addFilter(_RunnerNoise())


def _stopping_runner(on_stop: str, stop_timeout: float) -> Any:
    """Prefect's Runner, stopped on SIGINT as on SIGTERM; with ``on_stop="finish"`` it first
    stops taking runs and waits up to ``stop_timeout`` seconds for the running one."""
    from prefect.runner import Runner

    class StoppingRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            _serve_stopping.set()
            if on_stop != "finish" or not self.started or self.stopping or self._loop is None:
                super().handle_sigterm(*args, **kwargs)
                return
            self._logger.info("stop asked: finishing the running flow run first")
            self.stopping = True
            self._scheduled_run_poller.stopping = True
            self.execute_in_background(self._finish_then_stop)

        async def _finish_then_stop(self) -> None:
            # The runner's own record of its flow-run processes: a run is over when its
            # process exited, not when the API shows it Completed (cancelling in between
            # would turn a finished run into a Cancelled one).
            deadline = time.monotonic() + stop_timeout
            while time.monotonic() < deadline and self._process_manager.flow_run_count():
                await asyncio.sleep(0.5)
            await self.astop()  # cancels what is still running after the timeout

    return StoppingRunner(pause_on_shutdown=True)


def cancel_waiting_runs(deployment_id: Any) -> list[str]:
    """Cancel the deployment's runs that wait (scheduled, late, awaiting the concurrency slot,
    pending): stopped ``serve`` must not leave them to run as stale catch-up on the next start.
    Returns the names of the cancelled runs."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    waiting = [StateType.SCHEDULED, StateType.PENDING]
    cancelled = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=waiting))
            ),
        )
        for run in runs:
            state = Cancelled(message="newsflow serve stopped before this run started")
            client.set_flow_run_state(run.id, state, force=True)
            cancelled.append(run.name)
    return cancelled


def serve_deployment(deployment: Any, on_stop: str = "cancel", stop_timeout: float = 60) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM), polling the API for scheduled runs; each run
    executes in a subprocess. Stopping pauses the schedule, cancels the runs still waiting and
    cancels the running one (``on_stop="cancel"``) or lets it finish for up to ``stop_timeout``
    seconds (``"finish"``). Losing the API for good (Prefect's runner gives up after repeated
    failed polls) ends it with ``StageFailed("serve", ...)`` instead of a silent stop."""
    quiet_runner_lines()
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # its runs end when it does: die_with_serve
    runner = _stopping_runner(on_stop, stop_timeout)
    deployment_id = runner.add_deployment(deployment)
    previous = signal.signal(signal.SIGINT, lambda *_: runner.handle_sigterm())
    try:
        asyncio.run(runner.start())
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
    finally:
        signal.signal(signal.SIGINT, previous)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up below is short and bounded
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for name in cancel_waiting_runs(deployment_id):
        logging.getLogger("newsflow.serve").info("cancelled waiting run %s", name)


die_with_serve()  # a run that serve started: from its first import on (see there)
