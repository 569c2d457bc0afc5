"""The newsflow command, through real subprocesses: summary, exit codes, env overrides."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.load.publish import files_for
from tests.conftest import CORPUS, query, table_contents

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return subprocess.run(
        [NEWSFLOW, *args], cwd=cwd, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("seed.txt", "bom_crlf.md", "dashes_in_value.txt", "tab_indent.txt"):
        shutil.copy(CORPUS / name, src / name)
    return src


def test_run_loads_good_files_and_reports_the_bad_one(mixed_corpus: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--no-prefect", "--source", "src", "--warehouse", "out/x.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (
        "files: 4 seen = 3 loaded + 1 rejected + 0 skipped (0 unchanged, 0 superseded) "
        "+ 0 ignored; 5 warning(s)"
    ) in out
    assert (
        "src/tab_indent.txt:5:1: could not parse front matter: found character that cannot start "
        "any token (a tab: YAML is indented with spaces)" in out
    )
    assert "quality_by_provider (top 2):" in out
    assert "Example News" in out and "Al Jazeera English" in out
    assert query(tmp_path / "out" / "x.duckdb", "select count(*) as n from article") == [{"n": 3}]


def test_strict_exits_1_when_anything_is_rejected(mixed_corpus: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        "--no-prefect",
        "--strict",
        "--source",
        "src",
        "--warehouse",
        "x.duckdb",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "--strict: 1 document(s) rejected" in proc.stderr
    (mixed_corpus / "tab_indent.txt").unlink()
    proc = run_cli(
        "run",
        "--no-prefect",
        "--strict",
        "--source",
        "src",
        "--warehouse",
        "x.duckdb",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "args",
    [("run", "--workers", "0"), ("run", "--batch-size", "many"), ("explode",), ()],
)
def test_usage_errors_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: newsflow" in proc.stderr


def test_missing_source_fails_with_a_clear_message(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--no-prefect", "--source", "nowhere", "--warehouse", "x.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "newsflow: discover failed: source not found: nowhere"
    # A failed run publishes nothing; its row is in the writer's working copy.
    working = files_for(tmp_path / "x.duckdb").working
    assert not (tmp_path / "x.duckdb").exists()
    [run] = query(working, "select status, error from etl.run")
    assert run == {"status": "failed", "error": "discover failed: source not found: nowhere"}


def test_help_shows_an_example(tmp_path: Path) -> None:
    proc = run_cli("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "newsflow run --source path/to/articles --warehouse out/x.duckdb" in proc.stdout


@pytest.mark.slow
def test_run_through_prefect_with_env_warehouse(mixed_corpus: Path, tmp_path: Path) -> None:
    """The default path: the Prefect flow on an ephemeral API; NEWSFLOW_* env overrides."""
    env = {"NEWSFLOW_WAREHOUSE": str(tmp_path / "env.duckdb"), "NEWSFLOW_SOURCE": "src"}
    proc = run_cli("run", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "files: 4 seen = 3 loaded" in proc.stdout
    assert "database is locked" not in proc.stdout + proc.stderr
    [run] = query(tmp_path / "env.duckdb", "select run_id, flow_run_id, status from etl.run")
    assert run["status"] == "success"
    assert run["flow_run_id"] == run["run_id"]
    # Same rows as the plain-Python path.
    plain = run_cli(
        "run",
        "--no-prefect",
        "--warehouse",
        "plain.duckdb",
        cwd=tmp_path,
        env={"NEWSFLOW_SOURCE": "src"},
    )
    assert plain.returncode == 0
    assert table_contents(tmp_path / "env.duckdb") == table_contents(tmp_path / "plain.duckdb")


def test_rejections_lists_the_quarantine(mixed_corpus: Path, tmp_path: Path) -> None:
    run_cli("run", "--no-prefect", "--source", "src", "--warehouse", "q.duckdb", cwd=tmp_path)
    proc = run_cli("rejections", "--warehouse", "q.duckdb", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == (
        "src/tab_indent.txt:5:1: could not parse front matter: found character that cannot "
        "start any token (a tab: YAML is indented with spaces) [yaml_syntax]\n"
    )
    assert "1 file(s) in the quarantine of q.duckdb" in proc.stderr


def test_explain_shows_rows_or_the_rejection(mixed_corpus: Path, tmp_path: Path) -> None:
    run_cli("run", "--no-prefect", "--source", "src", "--warehouse", "e.duckdb", cwd=tmp_path)
    good = run_cli("explain", "src/seed.txt", "--warehouse", "e.duckdb", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    for line in ("file: src/seed.txt", "article: 1 row(s)", "provider: 4 row(s)",
                 "related: 3 row(s)", "image: 4 row(s)", "topic: 3 row(s)",
                 "warehouse e.duckdb: loaded as article_id 26adda6e9f939c78, identical to this file"):  # fmt: skip
        assert line in good.stdout
    assert "  topic_id='e0524f48691e5177', name='AI'" in good.stdout
    bad = run_cli("explain", "src/tab_indent.txt", "--warehouse", "e.duckdb", cwd=tmp_path)
    assert bad.returncode == 1
    assert (
        "REJECTED at extract (yaml_syntax):\n  src/tab_indent.txt:5:1: could not parse"
        in bad.stdout
    )
    assert "warehouse e.duckdb: quarantined by run" in bad.stdout
    missing = run_cli("explain", "src/nope.md", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (1, "newsflow: no such file: src/nope.md\n")


def test_contract_prints_the_declared_table(tmp_path: Path) -> None:
    from flows.normalize.contract import render_markdown

    proc = run_cli("contract", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, render_markdown())


def test_bench_prints_and_writes_its_figures(tmp_path: Path) -> None:
    """The figures' wiring, not their values: tests never assert timings."""
    proc = run_cli(
        "bench", "--docs", "1000", "--workers", "2", "--batch-size", "250",
        "--corpus", "corpus", "--json", "b.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for label in ("generating 1000 documents", "parse-only limit (CSafeLoader, 2 processes)",
                  "cold run, 1000 documents", "CPU per document: parse-only",
                  "peak RSS: run process", "re-run, nothing changed"):  # fmt: skip
        assert label in proc.stdout, proc.stdout
    figures = json.loads((tmp_path / "b.json").read_text())
    cold, rerun, cpu = figures["cold"], figures["rerun"], figures["cpu"]
    assert figures["docs"] == 1000
    # document 997 re-crawls an earlier URL with a later date: the earlier file is superseded
    assert (cold["files_loaded"], cold["files_superseded"]) == (999, 1)
    assert rerun["files_loaded"] == 0 and rerun["files_unchanged"] == cold["files_loaded"]
    assert cold["ratio"] == pytest.approx(cold["docs_per_s"] / figures["parse_only_docs_per_s"])
    before, after = figures["parse_only_before_after"]  # the limit brackets the cold run
    assert figures["parse_only_docs_per_s"] == pytest.approx(2 / (1 / before + 1 / after))
    assert "parse-only limit, after the cold run" in proc.stdout
    run_us = cpu["workers_us_per_doc"] + cpu["run_process_us_per_doc"]
    assert cpu["ceiling"] == pytest.approx(cpu["parse_only_us_per_doc"] / run_us)
    assert min(cpu.values()) > 0  # 4 chunks of 250 files: the workers parsed them
    assert set(cold["seconds"]) >= {"discover", "plan", "extract", "load", "models", "publish"}
    # sampled every 0.2 s over a run of several seconds; never above the kernel's peak
    quarters = cold["rss_main_quarters_mb"]
    assert len(quarters) == 4 and 20 < min(quarters) <= max(quarters) <= cold["rss_main_mb"] + 1
    assert "highest in each quarter of the run" in proc.stdout
    # the corpus is kept and reused when it has --docs files
    again = run_cli("bench", "--docs", "1000", "--workers", "1", "--corpus", "corpus", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "generating" not in again.stdout
    assert "parse-only limit (CSafeLoader, 1 processes)" in again.stdout


def test_quarter_peaks_takes_the_highest_sample_of_each_quarter() -> None:
    from flows.tools.bench import quarter_peaks

    assert quarter_peaks([5, 1, 2, 9, 3, 3, 7, 4, 1, 8]) == [5, 9, 7, 8]
    assert quarter_peaks([3, 1, 4, 1]) == [3, 1, 4, 1]
    assert quarter_peaks([1, 2, 3]) == []


def test_prefect_overhead_compares_the_flow_with_the_mean_of_the_core_runs_around_it() -> None:
    from flows.tools.bench import prefect_overhead

    def run(wall: float, imports: float, main: float, workers: float) -> dict:
        return {"wall": wall, "import_s": imports, "cpu_main_s": main, "cpu_workers_s": workers,
                "process_wall": wall + 1, "summary": {"seconds": {"load": 1.0}}}  # fmt: skip

    flow = run(55.0, 2.5, 30.0, 70.0)
    figures = prefect_overhead(flow, [run(48.0, 0.5, 24.0, 66.0), run(52.0, 0.5, 26.0, 64.0)], "x")
    assert figures["core_walls"] == [48.0, 52.0] and figures["core_wall"] == 50.0
    assert figures["overhead"] == pytest.approx(0.10)  # 55 / 50
    assert figures["overhead_after_imports"] == pytest.approx(52.5 / 49.5 - 1)
    assert (figures["cpu_s"], figures["core_cpu_s"]) == (100.0, 90.0)
    assert figures["cpu_overhead"] == pytest.approx(100 / 90 - 1)
    assert (figures["import_s"], figures["core_import_s"], figures["mode"]) == (2.5, 0.5, "x")
    assert figures["seconds"] == {"load": 1.0}
