"""newsflow's own Prefect servers: a child dies with its parent (kill -9 included), the detached
``newsflow server`` outlives its command until stopped, and alerts name the failed stage."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from flows.pipeline import server
from flows.records import StageFailed
from tests.conftest import CORPUS

BIN = Path(sys.executable).parent


def descendants(pid: int) -> set[tuple[int, str]]:
    """Every process below ``pid`` (children, grandchildren, ...) as (pid, start time), read
    from /proc; the start time tells a reused pid from the original."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: set[tuple[int, str]] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``processes`` that still run (same pid and start time, not a zombie)."""
    left = set()
    for pid, started in processes:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == started and fields[0] != "Z":
            left.add((pid, started))
    return left


def wait_gone(processes: set[tuple[int, str]], timeout: float = 15) -> set[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(processes)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: no Prefect or newsflow settings, a home of its own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSFLOW_"))}
    return {**base, "HOME": str(tmp_path / "home"), "DO_NOT_TRACK": "1"}


@pytest.mark.slow
def test_a_child_server_dies_with_its_parent_on_kill_9(tmp_path: Path) -> None:
    parent = textwrap.dedent(
        """
        import sys, time
        from flows.pipeline import server
        s = server.start("managed")
        print(s.pid, s.url, flush=True)
        time.sleep(600)
        """
    )
    env = {**clean_env(tmp_path), "NEWSFLOW_HOME": str(tmp_path / "nf")}
    proc = subprocess.Popen(
        [sys.executable, "-c", parent], env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        pid, url = proc.stdout.readline().split()
        assert server.healthy(url)
        tree = descendants(proc.pid)
        assert int(pid) in {p for p, _ in tree}
        # its own process group: a Ctrl-C at the terminal does not reach it first
        assert os.getpgid(int(pid)) == int(pid) != os.getpgid(proc.pid)
        assert (tmp_path / "nf" / "prefect" / "prefect.db").exists()  # the documented place
        proc.kill()
        proc.wait(timeout=10)
        assert wait_gone(tree) == set()
        assert not server.healthy(url)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_newsflow_server_start_status_stop(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "NEWSFLOW_HOME": str(tmp_path / "nf")}

    def newsflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "newsflow"), "server", *args], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    assert newsflow("status").stdout == "no newsflow server running\n"
    started = newsflow("start")
    assert started.returncode == 0, started.stderr
    state = server.read_state(tmp_path / "nf")
    assert state is not None and started.stdout.startswith(
        f"started newsflow server (pid {state['pid']}): UI {state['url'].removesuffix('/api')}"
    )
    try:
        found = server.running(tmp_path / "nf")
        assert found is not None and found.pid == state["pid"] and server.healthy(found.url)
        again = newsflow("start")  # idempotent: the same server
        assert again.stdout.startswith(f"newsflow server already running (pid {state['pid']})")
        status = newsflow("status")
        assert (status.returncode, status.stdout) == (0, (
            f"newsflow server running (pid {state['pid']}): UI {found.ui}, API {found.url}, "
            "healthy\n"
        ))  # fmt: skip
        # an ad-hoc run uses it: its flow run is in that server, and it starts no server
        run = subprocess.Popen(
            [str(BIN / "newsflow"), "run", "--source", str(CORPUS), "--warehouse", "w.duckdb",
             "--quiet"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        commands: set[bytes] = set()
        while run.poll() is None:
            for pid, _ in descendants(run.pid):
                with contextlib.suppress(OSError):
                    commands.add(Path(f"/proc/{pid}/cmdline").read_bytes())
            time.sleep(0.05)
        assert run.returncode == 0, run.stderr.read()[-3000:]
        assert [c for c in commands if b"--port" in c] == []  # no server of its own
        from prefect.client.orchestration import SyncPrefectClient

        with SyncPrefectClient(found.url) as client:
            [flow_run] = client.read_flow_runs()
        assert flow_run.state.is_completed()
        assert flow_run.parameters["warehouse"] == "w.duckdb"
        stat = Path(f"/proc/{state['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        tree = {(state["pid"], stat[19])} | descendants(state["pid"])
    finally:
        stopped = newsflow("stop")
    assert stopped.stdout == f"stopped newsflow server (pid {state['pid']})\n"
    assert not server.healthy(state["url"])
    assert wait_gone(tree) == set()  # the server and whatever it started
    assert not (tmp_path / "nf" / server.STATE_FILE).exists()
    assert newsflow("status").returncode == 1


def test_an_alert_names_the_run_and_the_failed_stage() -> None:
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Crashed, Failed

    from flows.pipeline.flow import alert_payload

    run = FlowRun(
        id=uuid.UUID(int=7), name="brave-otter", flow_id=uuid.UUID(int=1),
        deployment_id=uuid.UUID(int=2), parameters={"sources": ["/s"], "warehouse": "/w.duckdb"},
    )  # fmt: skip
    error = StageFailed("discover", "source not found: /s")
    assert alert_payload(run, Failed(message=str(error), data=error)) == {
        "event": "newsflow.run.failed",
        "flow_run_id": "00000000-0000-0000-0000-000000000007",
        "flow_run_name": "brave-otter",
        "deployment_id": "00000000-0000-0000-0000-000000000002",
        "state": "Failed",
        "stage": "discover",
        "message": "discover failed: source not found: /s",
        "parameters": {"sources": ["/s"], "warehouse": "/w.duckdb"},
    }
    crashed = alert_payload(run, Crashed(message="process exited -9"))
    assert (crashed["event"], crashed["state"], crashed["stage"]) == (
        "newsflow.run.crashed", "Crashed", None,
    )  # fmt: skip


def test_the_console_drops_the_runners_repeated_aborted_submission_lines() -> None:
    from flows.pipeline.flow import _RunnerNoise

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("prefect.runner", logging.INFO, "", 0, message, ("x",), None)

    noise = _RunnerNoise()
    assert not noise.filter(record("Aborted submission of flow run '%s': Server returned a "
                                   "non-pending state"))  # fmt: skip
    assert noise.filter(record("Runner submitting flow run '%s'"))
