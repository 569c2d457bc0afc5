"""``newsflow bench``: its arithmetic on fixed measurements (exact figures), and its wiring
through a real subprocess (which figures it prints and writes, never their values: tests never
assert timings)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.tools import bench
from tests.cli.test_main import run_cli


@pytest.mark.slow
def test_bench_prints_and_writes_its_figures(tmp_path: Path) -> None:
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
    # the arithmetic behind these is checked exactly in test_figures_from_fixed_measurements
    assert {"docs_per_s", "ratio"} <= set(cold) and len(figures["parse_only_before_after"]) == 2
    assert set(cpu) == {"parse_only_us_per_doc", "workers_us_per_doc", "run_process_us_per_doc",
                        "ceiling"}  # fmt: skip
    assert "parse-only limit, after the cold run" in proc.stdout
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


def _run(wall: float, imports: float, main: float, workers: float, **extra: Any) -> dict:
    return {"wall": wall, "import_s": imports, "cpu_main_s": main, "cpu_workers_s": workers,
            "process_wall": wall + 1, "summary": {"seconds": {"load": 1.0}}, **extra}  # fmt: skip


def test_prefect_overhead_compares_the_flow_with_the_mean_of_the_core_runs_around_it() -> None:
    flow = _run(55.0, 2.5, 30.0, 70.0)
    cores = [_run(48.0, 0.5, 24.0, 66.0), _run(52.0, 0.5, 26.0, 64.0)]
    figures = bench.prefect_overhead(flow, cores, "x")
    assert figures == {
        "wall": 55.0, "core_walls": [48.0, 52.0], "core_wall": 50.0,
        "overhead": pytest.approx(0.1),  # 55 / 50 - 1
        "mode": "x", "cpu_s": 100.0, "core_cpu_s": 90.0,
        "cpu_overhead": pytest.approx(0.111111111),  # 100 / 90 - 1
        "import_s": 2.5, "core_import_s": 0.5,
        "overhead_after_imports": pytest.approx(0.060606061),  # (55 - 2.5) / (50 - 0.5) - 1
        "seconds": {"load": 1.0},
    }  # fmt: skip


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """``cmd_bench`` in this process, on fixed measurements instead of real runs."""
    limits = iter([(3000.0, 2.0), (1500.0, 4.0)])  # (docs/s, CPU s): before, after the cold run
    seconds = {"discover": 0.5, "plan": 0.25, "extract": 0.125, "load": 0.125, "models": 1.0}
    cold = _run(0.004, 0.0005, 2.0, 2.0, rss_main_mb=120.0, rss_worker_mb=80.0,
                rss_main_quarters_mb=[100.0, 120.0, 110.0, 90.0],
                summary={"seconds": {"extract": 0.003}, "files_loaded": 3,
                         "files_superseded": 1, "files_unchanged": 0})  # fmt: skip
    rerun = _run(0.002, 0.0005, 0.5, 0.0, summary={"seconds": seconds, "files_loaded": 0,
                                                   "files_unchanged": 3})  # fmt: skip
    flow = _run(0.0055, 0.0025, 3.0, 1.4)
    after_flow = _run(0.006, 0.0005, 2.5, 1.5)
    runs: dict[str, Iterator[dict]] = {"core.duckdb": iter([cold, rerun]),
                                       "flow.duckdb": iter([flow]),
                                       "core-after.duckdb": iter([after_flow])}  # fmt: skip
    calls: list[list[str]] = []

    def measure_run(args: list[str]) -> dict:
        calls.append(args)
        warehouse = Path(args[args.index("--warehouse") + 1]).name
        return next(runs[warehouse])

    monkeypatch.setattr(bench, "parse_only", lambda paths, workers: next(limits))
    monkeypatch.setattr(bench, "measure_run", measure_run)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    yield calls


def test_figures_from_fixed_measurements(
    measured: list[list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = bench.run_bench(4, workers=2, batch_size=250, corpus=tmp_path / "corpus",
                              prefect=True, json_path=tmp_path / "b.json")  # fmt: skip
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(json.dumps(figures))
    assert [a[0] for a in measured] == ["--no-prefect", "--no-prefect", "--warehouse",
                                        "--no-prefect"]  # fmt: skip
    assert figures["docs"] == 4
    assert figures["parse_only_before_after"] == [3000.0, 1500.0]
    assert figures["parse_only_docs_per_s"] == pytest.approx(2000.0)  # 2 / (1/3000 + 1/1500)
    assert figures["cold"] == {
        "wall": 0.004, "docs_per_s": pytest.approx(1000.0),  # 4 documents in 0.004 s
        "ratio": pytest.approx(0.5),  # 1000 / 2000
        "seconds": {"extract": 0.003}, "rss_main_mb": 120.0, "rss_worker_mb": 80.0,
        "rss_main_quarters_mb": [100.0, 120.0, 110.0, 90.0],
        "files_loaded": 3, "files_superseded": 1,
    }  # fmt: skip
    assert figures["rerun"] == {
        "wall": 0.002, "core_seconds": 1.0,  # discover + plan + extract + load, not models
        "seconds": {"discover": 0.5, "plan": 0.25, "extract": 0.125, "load": 0.125,
                    "models": 1.0},
        "files_loaded": 0, "files_unchanged": 3,
    }  # fmt: skip
    # per document (1e6 / 4 µs per CPU second): the limit's mean CPU (2 + 4) / 2 = 3 s
    assert figures["cpu"] == {
        "parse_only_us_per_doc": 750_000.0, "workers_us_per_doc": 500_000.0,
        "run_process_us_per_doc": 500_000.0, "ceiling": 0.75,
    }  # fmt: skip
    prefect = figures["prefect"]
    assert prefect == {
        "wall": 0.0055, "core_walls": [0.004, 0.006], "core_wall": pytest.approx(0.005),
        "overhead": pytest.approx(0.1),  # 0.0055 / 0.005 - 1
        "mode": "ephemeral API", "cpu_s": pytest.approx(4.4),
        "core_cpu_s": pytest.approx(4.0),  # (2 + 2.5) / 2 + (2 + 1.5) / 2
        "cpu_overhead": pytest.approx(0.1),
        "import_s": 0.0025, "core_import_s": 0.0005,
        "overhead_after_imports": pytest.approx(-0.333333333),  # 0.003 / 0.0045 - 1
        "seconds": {"load": 1.0},
    }  # fmt: skip
    out = capsys.readouterr().out
    assert "both: 2,000 docs/s" in out
    assert "cold run, 4 documents: 0.0 s = 1,000 docs/s = 50% of the parse-only limit" in out
    assert "at most 75% of the limit with every core busy" in out
    assert "= +10.0% overhead" in out
