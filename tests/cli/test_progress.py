"""``newsflow run``'s progress, through real subprocesses on a 3,000-document synthetic corpus
in groups of 1,000: a live tqdm bar on a pseudo-terminal (``script``), one line per load group
without one, neither with ``--quiet``; on the plain-Python and the Prefect path."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.tools.synth import write_corpus

REPO = Path(__file__).resolve().parents[2]
DOCS = 3_000
LINES = [
    "loaded 1,000 of 3,000 files (33%)",
    "loaded 2,000 of 3,000 files (66%)",
    "loaded 3,000 of 3,000 files (100%)",
]
PATHS = {"plain": ["--no-prefect"], "prefect": []}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("progress") / "src"
    write_corpus(src, DOCS)
    return src


def newsflow_run(
    corpus: Path, warehouse: Path, *extra: str, terminal: bool
) -> subprocess.CompletedProcess:
    """``python -m flows.cli.main run`` of this checkout, on a pseudo-terminal (``script``; its
    output then holds stdout and stderr together) or with stdout and stderr captured apart."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    command = [sys.executable, "-m", "flows.cli.main", "run", "--source", str(corpus),
               "--warehouse", str(warehouse), "--batch-size", "1000", "--workers", "2", *extra]  # fmt: skip
    if terminal:
        command = ["script", "-q", "-e", "-c", shlex.join(command), "/dev/null"]
    proc = subprocess.run(
        command, cwd=warehouse.parent, env={**base, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    # Decoded by hand: text=True would turn tqdm's \r into \n.
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def failure(proc: subprocess.CompletedProcess) -> str:
    """What a failed run said: newsflow's own lines and errors first (Prefect's exit-time
    logging can bury them), then the end of the output."""
    said = [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.startswith("newsflow") or "ERROR" in line or "Traceback" in line]  # fmt: skip
    return "\n".join([*said[:20], "...", proc.stdout[-2000:], proc.stderr[-2000:]])


def group_lines(output: str) -> list[str]:
    """The per-group lines, without their times (``... in 6.1 s``)."""
    return re.findall(r"^(loaded [\d,]+ of [\d,]+ files \(\d+%\)) in \d+\.\d s$", output, re.M)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a pty")
@pytest.mark.parametrize("path", sorted(PATHS))
def test_run_on_a_terminal_shows_a_live_bar(corpus: Path, tmp_path: Path, path: str) -> None:
    proc = newsflow_run(corpus, tmp_path / "w.duckdb", *PATHS[path], terminal=True)
    assert proc.returncode == 0, failure(proc)
    assert "files: 3000 seen = 2997 loaded" in proc.stdout
    # tqdm redraws the line with \r: parsed and loaded counts, the rate and the ETA.
    updates = [u for u in proc.stdout.split("\r") if " parsed, " in u]
    assert any("| 0/3000 parsed, 0 loaded [00:00<?, ? files/s]" in u for u in updates)
    assert any(re.search(r"\| 3000/3000 parsed, 3,000 loaded \[[\d:]+<[\d:]+, [\d.]+ files/s\]", u)
               for u in updates)  # fmt: skip
    assert len(updates) >= 4
    assert group_lines(proc.stdout.replace("\r\n", "\n")) == []  # a bar, not lines

    quiet = newsflow_run(corpus, tmp_path / "q.duckdb", *PATHS[path], "--quiet", terminal=True)
    assert quiet.returncode == 0, failure(quiet)
    assert " parsed, " not in quiet.stdout
    assert group_lines(quiet.stdout.replace("\r\n", "\n")) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(PATHS))
def test_run_without_a_terminal_logs_a_line_per_group(
    corpus: Path, tmp_path: Path, path: str
) -> None:
    proc = newsflow_run(corpus, tmp_path / "w.duckdb", *PATHS[path], terminal=False)
    assert proc.returncode == 0, failure(proc)
    assert group_lines(proc.stderr) == LINES
    assert "\r" not in proc.stderr  # no bar
    assert group_lines(proc.stdout) == []  # stdout keeps the summary alone

    quiet = newsflow_run(corpus, tmp_path / "q.duckdb", *PATHS[path], "--quiet", terminal=False)
    assert quiet.returncode == 0, failure(quiet)
    assert group_lines(quiet.stderr) == []
    assert "\r" not in quiet.stderr


# The units below import inside the test, so the subprocess tests above also run against an
# older checkout (they must fail there: it shows no progress).
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_picks_a_bar_on_a_terminal_lines_otherwise_none_when_quiet() -> None:
    from flows.cli.progress import ProgressBar, ProgressLines, reporter

    assert isinstance(reporter(False, Terminal()), ProgressBar)
    assert isinstance(reporter(False, io.StringIO()), ProgressLines)
    assert reporter(True, Terminal()) is None


def test_lines_show_each_group_and_nothing_else() -> None:
    from flows.cli.progress import ProgressLines
    from flows.ingest import Progress

    out = io.StringIO()
    lines = ProgressLines(out)
    for event in [Progress("started", 2_000, 0, 0, 0.0), Progress("parsed", 2_000, 1_000, 0, 1.0),
                  Progress("loaded", 2_000, 1_000, 1_000, 1.25),
                  Progress("loaded", 2_000, 2_000, 2_000, 2.0),
                  Progress("done", 2_000, 2_000, 2_000, 2.5)]:  # fmt: skip
        lines(event)
    assert out.getvalue() == (
        "loaded 1,000 of 2,000 files (50%) in 1.2 s\nloaded 2,000 of 2,000 files (100%) in 2.0 s\n"
    )


def test_the_bar_ends_at_done_with_the_counts() -> None:
    from flows.cli.progress import ProgressBar
    from flows.ingest import Progress

    out = Terminal()
    bar = ProgressBar(out)
    bar(Progress("started", 2_000, 0, 0, 0.0))
    assert (bar.bar, out.getvalue()) == (None, "")  # drawn from the first batch on
    bar(Progress("parsed", 2_000, 2_000, 0, 1.0))
    bar(Progress("done", 2_000, 2_000, 2_000, 2.0))
    assert bar.bar is None
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("100%|") and "| 2000/2000 parsed, 2,000 loaded [" in last
    assert out.getvalue().endswith("\n")
