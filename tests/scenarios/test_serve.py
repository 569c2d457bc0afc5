"""Scheduled runs: the deployment ``newsflow serve`` registers, and served runs end to end.

The deployment is checked in the test harness; the served path runs for real: a ``prefect server
start`` on a free loopback port (its own PREFECT_HOME), ``newsflow serve`` in a subprocess
against it, runs on an interval loading into a temporary warehouse, and two triggers at once
running one after the other.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.settings import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FILE_BYTES, load_settings
from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_deployment_has_the_schedule_parameters_and_limit(harness: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.pipeline.flow import build_deployment, deployment_parameters

    settings = load_settings(
        env={}, sources=(CORPUS,), warehouse=tmp_path / "w.duckdb", workers=2, strict=True
    )
    parameters = deployment_parameters(settings, lock_retries=3)
    assert parameters == {
        "sources": [str(CORPUS)],
        "warehouse": str(tmp_path / "w.duckdb"),
        "workers": 2,
        "batch_size": DEFAULT_BATCH_SIZE,
        "max_file_bytes": DEFAULT_MAX_FILE_BYTES,
        "full_refresh": False,
        "prune": False,
        "lock_timeout": 30.0,
        "strict": True,
        "lock_retries": 3,
        "dask_address": None,
        "checkpoint_mb": 128,
        "duckdb_memory_mb": 256,
        "profile": "default",
        "base_url": None,
    }
    by_cron = build_deployment(
        parameters, name="every-15-min", cron="*/15 * * * *", timezone="Europe/Paris"
    )
    by_interval = build_deployment(parameters, name="every-900-s", interval=900, overlap="cancel")
    ids = [by_cron.apply(), by_interval.apply()]
    with get_client(sync_client=True) as client:
        cron, interval = (client.read_deployment(i) for i in ids)
        flow = client.read_flow(cron.flow_id)
    assert flow.name == "ingest"
    for deployment in (cron, interval):
        assert deployment.parameters == parameters
        assert deployment.entrypoint == "flows.pipeline.flow.ingest"
        assert deployment.global_concurrency_limit.limit == 1
        assert set(deployment.parameter_openapi_schema["properties"]) == set(parameters)
        assert not deployment.paused
    [schedule] = cron.schedules
    assert (schedule.active, schedule.schedule.cron, schedule.schedule.timezone) == (
        True, "*/15 * * * *", "Europe/Paris",
    )  # fmt: skip
    [schedule] = interval.schedules
    assert schedule.schedule.interval == dt.timedelta(seconds=900)
    assert cron.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert interval.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW


# -- a real server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check: Callable[[], Any], timeout: float, what: str, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _stop(proc: subprocess.Popen, grace: float = 30) -> int:
    """SIGTERM the process, then kill its whole session if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``prefect server start`` on a free loopback port; yields the env for its clients."""
    home = tmp_path_factory.mktemp("prefect-home")
    url = f"http://127.0.0.1:{(port := _free_port())}/api"
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("NEWSFLOW_", "PREFECT_"))}  # fmt: skip
    env = {
        **base,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        # A run refused a slot by the deployment limit retries after 1 s instead of 30 s.
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
        # A new deployment's schedule gets its runs within 1 s instead of 5 s.
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    }
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        from prefect.client.orchestration import SyncPrefectClient

        def healthy() -> bool:
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            with SyncPrefectClient(url) as client:
                return client.api_healthcheck() is None

        _wait(healthy, 120, "the Prefect server", every=0.5)
        yield {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    finally:
        _stop(proc, grace=15)
        log.close()


@pytest.fixture
def serve(server: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``newsflow serve ARGS`` against the server; always stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [str(BIN / "newsflow"), "serve", *args], cwd=tmp_path, env=server,
            stdout=subprocess.PIPE, stderr=(tmp_path / f"serve{len(started)}.log").open("w"),
            text=True, start_new_session=True,
        )  # fmt: skip
        started.append(proc)
        assert proc.stdout.readline().startswith("serving ingest/"), proc.poll()
        return proc

    yield start
    for proc in started:
        _stop(proc)


def _client(server: dict[str, str]) -> Any:
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(server["PREFECT_API_URL"])


def _deployment(client: Any, name: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(name)
    except ObjectNotFound:
        return None


def _runs(warehouse: Path) -> list[dict]:
    """etl.run of the published warehouse (it is replaced atomically, so always readable)."""
    if not warehouse.exists():
        return []
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = conn.execute(
            "select run_id, status, started_at, finished_at, files_loaded, "
            "(select count(*) from article) as articles from etl.run order by started_at"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def test_served_schedule_loads_a_new_file_and_status_shows_the_runs(
    server: dict[str, str], serve: Callable[..., subprocess.Popen], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(CORPUS / "seed.txt", src)
    warehouse = tmp_path / "w.duckdb"
    proc = serve("--interval", "2", "--name", "scheduled", "--source", "src",
                 "--warehouse", "w.duckdb", "--workers", "1")  # fmt: skip
    first = _wait(lambda: _runs(warehouse), 120, "the first scheduled run")
    assert [(r["status"], r["files_loaded"], r["articles"]) for r in first] == [("success", 1, 1)]

    shutil.copy(CORPUS / "bom_crlf.md", src)  # a new article dropped into the source
    runs = _wait(
        lambda: [r for r in _runs(warehouse) if r["articles"] == 2], 120, "the new article"
    )
    assert (runs[0]["status"], runs[0]["files_loaded"]) == ("success", 1)

    status = subprocess.run(
        [str(BIN / "newsflow"), "status", "--warehouse", "w.duckdb"], cwd=tmp_path, env=server,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    for run in (first[0], runs[0]):
        [line] = [x for x in status.stdout.splitlines() if run["run_id"] in x]
        assert "  success " in line

    assert _stop(proc) == 0
    # Quiet by default (issue 17): serving and its runs log no ERROR or WARNING line.
    logged = (tmp_path / "serve0.log").read_text().splitlines()
    assert [line for line in logged if "ERROR" in line or "WARNING" in line] == []
    with _client(server) as client:
        deployment = client.read_deployment_by_name("ingest/scheduled")
        flow_runs = [client.read_flow_run(r["run_id"]) for r in (first[0], runs[0])]
    assert deployment.paused  # stopping serve pauses the schedule: no late runs pile up
    assert all(r.deployment_id == deployment.id and r.state.is_completed() for r in flow_runs)


def test_two_triggers_at_once_run_one_after_the_other(
    server: dict[str, str], serve: Callable[..., subprocess.Popen], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("seed.txt", "bom_crlf.md", "dashes_in_value.txt"):
        shutil.copy(CORPUS / name, src)
    serve("--name", "overlap", "--source", "src", "--warehouse", "o.duckdb", "--workers", "1")
    with _client(server) as client:
        deployment = _wait(lambda: _deployment(client, "ingest/overlap"), 60, "the deployment")
        assert deployment.schedules == []  # no schedule: triggered runs only
        from prefect.states import Scheduled

        # Both due at the same moment, a few seconds ahead, so the runner picks up both in one
        # poll and the concurrency limit (not the timing of the polls) decides which one waits.
        due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
        ids = [
            client.create_flow_run_from_deployment(
                deployment.id, state=Scheduled(scheduled_time=due)
            ).id
            for _ in range(2)
        ]

        def finished() -> list:
            runs = [client.read_flow_run(i) for i in ids]
            return runs if all(r.state.is_final() for r in runs) else []

        runs = _wait(finished, 150, "both triggered runs", every=0.5)
        states = [[s.name for s in client.read_flow_run_states(i)] for i in ids]
    assert [r.state.type.value for r in runs] == ["COMPLETED", "COMPLETED"]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert first.end_time <= second.start_time  # never both running
    assert any("AwaitingConcurrencySlot" in names for names in states)  # the limit held one back
    recorded = _runs(tmp_path / "o.duckdb")
    assert sorted(r["run_id"] for r in recorded) == sorted(str(i) for i in ids)
    assert [(r["status"], r["files_loaded"]) for r in recorded] == [("success", 3), ("success", 0)]
    assert recorded[0]["finished_at"] <= recorded[1]["started_at"]


def test_prefect_yaml_deploys_to_a_process_pool_and_a_worker_runs_it(
    server: dict[str, str], tmp_path: Path
) -> None:
    def prefect(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(BIN / "prefect"), *args], cwd=REPO, env=server, capture_output=True,
            text=True, timeout=180, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    prefect("work-pool", "create", "newsflow", "--type", "process")
    prefect("deploy", "--all")  # prefect.yaml at the repository root
    with _client(server) as client:
        deployment = client.read_deployment_by_name("ingest/worker")
        client.pause_deployment(deployment.id)  # no scheduled run may write warehouse/news.duckdb
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, deployment.work_pool_name) == ("*/15 * * * *", "newsflow")
        assert deployment.global_concurrency_limit.limit == 1
        assert deployment.parameters == {"lock_retries": 3}
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
        warehouse = tmp_path / "pool.duckdb"
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"sources": [str(CORPUS)], "warehouse": str(warehouse)}
        )
        prefect("worker", "start", "--pool", "newsflow", "--run-once")
        assert client.read_flow_run(run.id).state.is_completed()
    assert [(r["run_id"], r["status"], r["files_loaded"]) for r in _runs(warehouse)] == [
        (str(run.id), "success", 4)
    ]


def test_bench_measures_the_flow_against_the_server_between_two_core_runs(
    server: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [str(BIN / "newsflow"), "bench", "--docs", "100", "--workers", "1", "--corpus", "c",
         "--prefect", "--json", "b.json"],
        cwd=tmp_path, env=server, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    url = server["PREFECT_API_URL"]
    assert f"prefect flow (server {url}): " in proc.stdout, proc.stdout
    figures = json.loads((tmp_path / "b.json").read_text())["prefect"]
    assert figures["mode"] == f"server {url}" and len(figures["core_walls"]) == 2
    # the arithmetic is checked exactly in tests/tools/test_bench.py, on fixed measurements
    assert {"core_wall", "overhead", "overhead_after_imports", "cpu_overhead"} <= set(figures)
    # the flow ran every stage, as tasks of a flow run against the server
    assert set(figures["seconds"]) >= {"discover", "plan", "extract", "load", "models", "publish"}
    with _client(server) as client:
        runs = client.read_flow_runs()
    bench_runs = [r for r in runs if str(r.parameters.get("warehouse")).endswith("/flow.duckdb")]
    assert len(bench_runs) == 1 and bench_runs[0].state and bench_runs[0].state.is_completed()


def test_a_failed_served_run_alerts_once_naming_the_stage(
    server: dict[str, str], serve: Callable[..., subprocess.Popen], tmp_path: Path
) -> None:
    import http.server
    import threading

    received: list[dict] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    receiver = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        src = tmp_path / "src"
        src.mkdir()
        shutil.copy(CORPUS / "seed.txt", src)
        url = f"http://127.0.0.1:{receiver.server_address[1]}/alerts"
        serve("--name", "alerting", "--source", "src", "--warehouse", "a.duckdb",
              "--workers", "1", "--notify-url", url)  # fmt: skip
        with _client(server) as client:
            deployment = _wait(lambda: _deployment(client, "ingest/alerting"), 60, "deployment")
            missing = str(tmp_path / "gone")  # the source vanished: stage discover fails
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters={"sources": [missing]}
            )
            final = _wait(
                lambda: (r := client.read_flow_run(run.id)).state.is_final() and r, 150, "the run"
            )
        assert final.state.is_failed()
        _wait(lambda: received, 30, "the alert")
        time.sleep(3)  # a second alert would have arrived by now
    finally:
        receiver.shutdown()
    assert len(received) == 1
    [alert] = received
    assert {k: alert[k] for k in ("event", "flow_run_id", "flow_run_name", "deployment_id",
                                  "state", "stage")} == {
        "event": "newsflow.run.failed",
        "flow_run_id": str(run.id),
        "flow_run_name": final.name,
        "deployment_id": str(deployment.id),
        "state": "Failed",
        "stage": "discover",
    }  # fmt: skip
    assert alert["message"].startswith("discover failed: ") and missing in alert["message"]


def test_stop_lets_the_running_run_finish_and_cancels_the_waiting_one(
    server: dict[str, str], serve: Callable[..., subprocess.Popen], tmp_path: Path
) -> None:
    shutil.copytree(REPO / "seeds" / "articles", tmp_path / "src")
    proc = serve("--name", "stopping", "--source", "src", "--warehouse", "s.duckdb",
                 "--workers", "1", "--on-stop", "finish", "--stop-timeout", "120")  # fmt: skip
    with _client(server) as client:
        deployment = _wait(lambda: _deployment(client, "ingest/stopping"), 60, "the deployment")
        ids = [client.create_flow_run_from_deployment(deployment.id).id for _ in range(2)]

        def one_running() -> list:
            runs = [client.read_flow_run(i) for i in ids]
            return [r for r in runs if r.state.is_running()]

        [running] = _wait(one_running, 120, "a running run", every=0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=150) == 0
        runs = {i: client.read_flow_run(i) for i in ids}
    [waiting] = [i for i in ids if i != running.id]
    assert runs[running.id].state.is_completed()  # --on-stop finish
    assert runs[waiting].state.is_cancelled()  # never left to run as stale catch-up
    assert [(r["run_id"], r["status"]) for r in _runs(tmp_path / "s.duckdb")] == [
        (str(running.id), "success")
    ]
    console = (tmp_path / "serve0.log").read_text()
    assert "Aborted submission" not in console  # kept in Prefect's logs, not on the console
