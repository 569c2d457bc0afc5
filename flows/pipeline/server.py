"""The Prefect servers newsflow starts itself, so that nothing it starts outlives it.

Three kinds, one code path (a child process on a free loopback port, analytics and telemetry
off, waited for until ``/api/health`` answers):

- **managed** (``newsflow serve`` with no Prefect API configured): ``prefect server start`` with
  its UI and database under ``$NEWSFLOW_HOME/prefect`` (run history survives restarts); a child
  that dies with ``serve``, whatever kills it;
- **temporary** (``newsflow run`` with no Prefect API and no running newsflow server): the same
  uvicorn command Prefect's own temporary API runs, on the user's Prefect settings, but started
  here as a child that dies with the run (Prefect's own leaks on ``kill -9``);
- **detached** (``newsflow server start``): the managed server as a daemon that deliberately
  outlives the command; ``$NEWSFLOW_HOME/server.json`` holds its pid, port and URL so that
  ``newsflow run`` and ``newsflow serve`` find it, and ``newsflow server stop`` stops it.

Children of a run get ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux) and a process group of their
own: the kernel kills them when their parent dies, even by ``kill -9``, and a Ctrl-C at the
terminal does not reach them before ``serve`` has cancelled its queued runs through them.

Imports nothing from Prefect: the API URL must be decided before Prefect reads its settings.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flows.records import StageFailed

STATE_FILE = "server.json"
STARTUP_TIMEOUT = 120.0  # seconds; 6-10 s on 2 busy cores, much more when several start at once
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL of a server's process group
PR_SET_PDEATHSIG = 1  # linux/prctl.h
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def newsflow_home() -> Path:
    """Where newsflow keeps its own Prefect server's state: ``$NEWSFLOW_HOME``, by default
    ``~/.newsflow`` (the server's database is ``prefect/prefect.db`` under it)."""
    return Path(os.environ.get("NEWSFLOW_HOME") or Path.home() / ".newsflow").expanduser()


@dataclass
class Server:
    """A Prefect server newsflow started (``process`` is None for one found by its state file)."""

    url: str  # the API URL, http://127.0.0.1:PORT/api
    pid: int
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")


def free_port() -> int:
    """A free loopback TCP port (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at ``url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: get SIGKILL when the parent dies (Linux), and give up at once
    if it already died between fork and here. The own process group comes from Popen."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _prefect() -> list[str]:
    """The ``prefect`` command of this environment."""
    script = Path(sys.executable).parent / "prefect"
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect"]


def _command(kind: str, port: int) -> list[str]:
    if kind == "temporary":  # Prefect's own temporary API (SubprocessASGIServer), no UI
        spec = importlib.util.find_spec("prefect")  # its location only: no import
        assert spec is not None and spec.origin is not None
        return [
            sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
            "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip
    return [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port),
            "--analytics-off"]  # fmt: skip


def _environment(kind: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(QUIET)
    if kind == "temporary":
        env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1"})  # fmt: skip
    else:
        env["PREFECT_HOME"] = str(home / "prefect")
    return env


def start(kind: str, home: Path | None = None, timeout: float = STARTUP_TIMEOUT) -> Server:
    """Start a Prefect server (``managed``, ``temporary`` or ``detached``) and wait until it
    answers; its output goes to ``HOME/<kind>-server.log`` (temporary: discarded)."""
    home = home or newsflow_home()
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log_path = None if kind == "temporary" else home / f"{kind}-server.log"
    out = log_path.open("ab") if log_path else subprocess.DEVNULL
    options: dict = {"process_group": 0}
    if kind == "detached":
        options = {"start_new_session": True}
    else:
        options["preexec_fn"] = partial(_die_with_parent, os.getpid())
    try:
        process = subprocess.Popen(
            _command(kind, port), env=_environment(kind, home), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, **options,
        )  # fmt: skip
    finally:
        if log_path:
            out.close()
    server = Server(url=url, pid=process.pid, process=process, log=log_path)
    deadline = time.monotonic() + timeout
    while not healthy(url, timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(server)
            where = f"; see {log_path}" if log_path else ""
            raise StageFailed(
                "server", f"the Prefect server on port {port} did not start (exit "
                f"{process.returncode}) within {timeout:g} s{where}",
            )  # fmt: skip
        time.sleep(0.25)
    if kind == "detached":
        state = {"pid": process.pid, "port": port, "url": url, "log": str(log_path)}
        (home / STATE_FILE).write_text(json.dumps(state) + "\n")
    return server


def stop(server: Server, grace: float = STOP_GRACE) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(server):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    if server.process is not None:
        server.process.wait()


def _alive(server: Server) -> bool:
    if server.process is not None:
        return server.process.poll() is None
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists" for kill(0); it is gone for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{server.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def read_state(home: Path | None = None) -> dict | None:
    """The detached server's state file, or None."""
    path = (home or newsflow_home()) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def running(home: Path | None = None) -> Server | None:
    """The detached ``newsflow server`` of ``home``, if its process lives and it is healthy."""
    state = read_state(home)
    if not state:
        return None
    server = Server(url=state["url"], pid=int(state["pid"]), log=Path(state["log"]))
    if _alive(server) and healthy(server.url):
        return server
    return None


def stop_detached(home: Path | None = None) -> Server | None:
    """Stop the detached server of ``home`` (if its process lives) and remove its state file."""
    home = home or newsflow_home()
    state = read_state(home)
    if not state:
        return None
    server = Server(url=state["url"], pid=int(state["pid"]), log=Path(state["log"]))
    if _alive(server):
        stop(server)
    (home / STATE_FILE).unlink(missing_ok=True)
    return server


@contextlib.contextmanager
def child(kind: str) -> Iterator[Server]:
    """A ``managed`` or ``temporary`` server for the time of the block, stopped after it."""
    server = start(kind)
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def prefect_api(kind: str) -> Iterator[tuple[str, str]]:
    """The Prefect API for a run (``kind="temporary"``) or ``serve`` (``"managed"``), as
    ``(url, where)``: a configured ``PREFECT_API_URL`` (environment or profile) always wins;
    else a healthy detached ``newsflow server``; else a child server of ``kind`` for the time
    of the block. Imports Prefect's settings: call after :func:`env.prefect_defaults`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured, "PREFECT_API_URL"
        return
    found = running()
    with contextlib.ExitStack() as stack:
        if found is None:
            found = stack.enter_context(child(kind))
            stack.callback(_drain_prefect)  # before the server stops
            where = f"{kind} server (stopped on exit)"
        else:
            where = f"newsflow server (pid {found.pid})"
        # The environment for the processes this one starts (serve's flow runs), the settings
        # for this one (Prefect read the environment at import).
        stack.callback(_restore, os.environ.get("PREFECT_API_URL"))
        os.environ["PREFECT_API_URL"] = found.url
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: found.url}))
        yield found.url, where


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = previous


def _drain_prefect(timeout: float = 30) -> None:
    """Send Prefect's queued logs and events now, while the server still answers (at exit,
    they would retry against a stopped server and print "Error logging to API")."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=timeout, at_exit=False)
