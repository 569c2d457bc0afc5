"""``newsflow status``: the run history from etl.run, without a Prefect server.

Failed runs publish nothing, so the history is read from the writer's working copy; while a run
holds the lock, from the published file; when DuckDB refuses the working copy, from the published
file with a note.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.analysis.runs import read_runs
from flows.ingest import run_ingest
from flows.load.publish import files_for, writer_lock
from flows.records import StageFailed
from flows.settings import Settings, load_settings
from tests.conftest import CORPUS

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
FILE_COUNTS = ("files_seen", "files_loaded", "files_rejected", "files_skipped", "files_ignored")


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with one successful run, then one that failed (recorded in the working
    copy only); built once, copied by each test."""
    root = tmp_path_factory.mktemp("history")
    (root / "src").mkdir()
    for name in ("seed.txt", "tab_indent.txt"):
        shutil.copy(CORPUS / name, root / "src" / name)
    settings = load_settings(
        env={}, sources=(root / "src",), warehouse=root / "wh" / "test.duckdb", workers=1
    )
    run_ingest(settings)
    with pytest.raises(StageFailed):
        run_ingest(settings.with_overrides(sources=(root / "gone",)))
    return root


@pytest.fixture
def two_runs(history_dir: Path, tmp_path: Path) -> Settings:
    shutil.copytree(history_dir / "wh", tmp_path / "wh")
    return load_settings(env={}, warehouse=tmp_path / "wh" / "test.duckdb")


def _summary(history_runs: list[dict]) -> list[tuple]:
    return [(r["status"], *(r[k] for k in FILE_COUNTS), r["error"]) for r in history_runs]


def test_reads_every_run_from_the_working_copy(two_runs: Settings, history_dir: Path) -> None:
    history = read_runs(two_runs.warehouse)
    assert (history.source, history.read_from, history.notes) == (
        "working copy",
        files_for(two_runs.warehouse).working,
        [],
    )
    assert _summary(history.runs) == [
        ("failed", 0, 0, 0, 0, 0, f"discover failed: source not found: {history_dir / 'gone'}"),
        ("success", 2, 1, 1, 0, 0, None),
    ]
    assert history.runs[0]["started_at"] > history.runs[1]["started_at"]
    assert len(read_runs(two_runs.warehouse, limit=1).runs) == 1


def test_while_a_run_holds_the_lock_reads_the_published_file(two_runs: Settings) -> None:
    with writer_lock(files_for(two_runs.warehouse), "live-run", 1):
        history = read_runs(two_runs.warehouse)
    assert (history.source, history.read_from) == ("published warehouse", two_runs.warehouse)
    assert _summary(history.runs) == [("success", 2, 1, 1, 0, 0, None)]  # the failed run is not
    assert history.writer["run_id"] == "live-run"
    [note] = history.notes
    assert note.startswith(f"a run is in progress (run live-run, pid {os.getpid()} on ")


@pytest.mark.slow
def test_falls_back_to_the_published_file_when_duckdb_refuses_the_working_copy(
    two_runs: Settings,
) -> None:
    working = files_for(two_runs.warehouse).working
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys\n"
         f"con = duckdb.connect({str(working)!r})\nprint('open', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "open\n"
        history = read_runs(two_runs.warehouse)
    finally:
        holder.communicate("", timeout=30)
    assert (history.source, history.read_from) == ("published warehouse", two_runs.warehouse)
    assert _summary(history.runs) == [("success", 2, 1, 1, 0, 0, None)]
    [note] = history.notes
    assert note.startswith("the working copy is open by a writer (")
    assert note.endswith("); showing the published warehouse instead")


def test_a_truncated_working_copy_is_not_called_open_by_a_writer(two_runs: Settings) -> None:
    working = files_for(two_runs.warehouse).working
    os.truncate(working, working.stat().st_size // 2)
    history = read_runs(two_runs.warehouse)
    assert (history.source, history.read_from) == ("published warehouse", two_runs.warehouse)
    assert _summary(history.runs) == [("success", 2, 1, 1, 0, 0, None)]
    [note] = history.notes
    assert note.startswith("the working copy cannot be read (IO Error: Could not read enough bytes")
    assert note.endswith(
        "); the next run rebuilds it from the published warehouse; showing the published "
        "warehouse instead"
    )


def test_a_run_that_never_finished_is_interrupted(two_runs: Settings) -> None:
    conn = duckdb.connect(str(files_for(two_runs.warehouse).working))
    conn.execute(
        "insert into etl.run (run_id, started_at, status) values ('killed', ?, 'running')",
        [dt.datetime.now(dt.UTC)],
    )
    conn.close()
    [run] = read_runs(two_runs.warehouse, limit=1).runs
    assert (run["run_id"], run["status"], run["finished_at"]) == ("killed", "interrupted", None)


def test_no_warehouse_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"warehouse not found: .*none.duckdb \(load it"):
        read_runs(tmp_path / "none.duckdb")


def _newsflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return subprocess.run(
        [NEWSFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_status_command_prints_the_runs(
    two_runs: Settings, history_dir: Path, tmp_path: Path
) -> None:
    proc = _newsflow("status", "--warehouse", str(two_runs.warehouse), cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0] == "last 2 run(s) of wh/test.duckdb (working copy), newest first:"
    assert re.fullmatch(
        r"started \(UTC\) +status +seconds +seen +loaded +rejected +skipped +ignored +run id +error",
        lines[1],
    )
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    uuid = r"[0-9a-f-]{36}"
    assert re.fullmatch(
        rf"{stamp}  failed +\d+\.\d +0 +0 +0 +0 +0  {uuid}  discover failed: source not "
        rf"found: {re.escape(str(history_dir / 'gone'))}",
        lines[2],
    )
    assert re.fullmatch(rf"{stamp}  success +\d+\.\d +2 +1 +1 +0 +0  {uuid}", lines[3])
    assert len(lines) == 4


@pytest.mark.slow
def test_status_command_without_a_warehouse_exits_1(tmp_path: Path) -> None:
    proc = _newsflow("status", "--warehouse", "none.duckdb", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == (
        "newsflow: warehouse not found: none.duckdb (load it first with newsflow run)\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("status", "newsflow status --warehouse out/x.duckdb --limit 5"),
        ("serve", 'newsflow serve --cron "*/15 * * * *" --source seeds/articles'),
    ],
)
def test_help_shows_an_example(command: str, example: str, tmp_path: Path) -> None:
    proc = _newsflow(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert example in proc.stdout
