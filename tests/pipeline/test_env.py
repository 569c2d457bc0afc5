"""newsflow's Prefect defaults: quiet on every path the README shows, the user's settings winning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from flows.pipeline import env
from tests.conftest import CORPUS

REPO = Path(__file__).resolve().parents[2]
TELEMETRY = ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a new user: no Prefect or telemetry settings, a fresh Prefect home."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "NEWSFLOW_")) and k not in TELEMETRY
    }
    return {**base, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(REPO)}


def test_defaults_never_override_the_users_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    env.prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "1"


@pytest.mark.slow
def test_the_python_api_example_logs_no_error_or_warning(tmp_path: Path) -> None:
    """The README's Python API on a temporary (ephemeral) API: it used to log "ERROR ... Failed
    to send telemetry" (offline) and SQLite "database is locked" tracebacks of the telemetry
    row; importing flows.pipeline now applies the CLI's defaults."""
    example = textwrap.dedent(
        f"""
        from flows.pipeline.flow import ingest

        summary = ingest(sources=[{str(CORPUS)!r}], warehouse="out/news.duckdb", workers=1)
        print("loaded", summary["files_loaded"])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, env=_clean_env(tmp_path),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert proc.stdout == "loaded 4\n"  # of the 10 files: the rest are rejected
    assert [line for line in output.splitlines() if "ERROR" in line or "WARNING" in line] == []


@pytest.mark.slow
def test_the_quiet_server_command_logs_no_error_or_warning(tmp_path: Path) -> None:
    """``prefect server start`` as the README shows it (env.QUIET_SERVER): without
    ``--analytics-off`` it logs "ERROR ... Failed to send telemetry" at start (offline) and
    every 10 minutes after."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = env.QUIET_SERVER.replace(
        ".venv/bin/prefect", str(Path(sys.executable).parent / "prefect")
    )
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [*command.split(), "--port", str(port)], cwd=tmp_path, env=_clean_env(tmp_path),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        healthy = False
        for _ in range(240):  # until it answers, at most about 2 minutes
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                    healthy = True
                    break
            except OSError:
                if server.poll() is not None:
                    break
                subprocess.run(["sleep", "0.5"], check=True)
        assert healthy, log.read_text()
        # The startup telemetry is sent as the services start: give them a moment.
        subprocess.run(["sleep", "5"], check=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    lines = log.read_text().splitlines()
    assert [line for line in lines if "ERROR" in line or "WARNING" in line] == []
