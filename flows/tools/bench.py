"""``newsflow bench``: throughput, memory and re-run cost of the pipeline on a synthetic corpus.

Every figure is measured on the same corpus in the same invocation:
- the parse-only limit: ``yaml.load(..., Loader=yaml.CSafeLoader)`` of every front matter, read and
  split from disk, on the same number of worker processes, right before and right after the cold
  run (combined: the rate of their mean time);
- the core pipeline (no Prefect) on a fresh warehouse, end to end and per stage, with the peak RSS
  of the run process and of its largest worker;
- a re-run with nothing changed (the ledger skips every file);
- optionally (``--prefect``) the Prefect flow on another fresh warehouse, then the core once more
  on a third, for the flow's overhead over the mean of the two core runs that bracket it.
Each run happens in its own subprocess so its memory is measured alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
import yaml

from flows.extract.discover import discover
from flows.pipeline import env as prefect_env


def _parse_chunk(paths: list[str]) -> int:
    for path in paths:
        text = Path(path).read_text(encoding="utf-8-sig")
        end = text.find("\n---", 3)
        yaml.load(text[4:end], Loader=yaml.CSafeLoader)
    return len(paths)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def parse_only(paths: list[str], workers: int) -> tuple[float, float]:
    """Documents/s of PyYAML's C safe loader alone on these files (the limit), and the CPU
    seconds it spent."""
    chunks = [paths[i : i + 500] for i in range(0, len(paths), 500)]
    cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    if workers <= 1:
        done = sum(_parse_chunk(c) for c in chunks)
    else:
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = sum(pool.map(_parse_chunk, chunks))
    wall = time.perf_counter() - started
    # the pool's processes were reaped when it closed: their CPU is in RUSAGE_CHILDREN now
    cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    return done / wall, cpu


def measure_run(args: list[str]) -> dict[str, Any]:
    """Run ``newsflow run ARGS`` in a subprocess; its summary, wall time and peak memory."""
    code = (
        "import json, resource, sys, time\n"
        "from flows.cli.args import ingest_settings\n"
        "from flows.cli.main import build_parser\n"
        "a = build_parser().parse_args(['run', *sys.argv[1:]])\n"
        "s = ingest_settings(a)\n"
        "t = time.perf_counter()\n"
        "if a.no_prefect:\n"
        "    from flows.ingest import run_ingest\n"
        "    imported = time.perf_counter() - t\n"
        "    summary = run_ingest(s).to_dict()\n"
        "else:\n"
        "    from flows.pipeline.flow import ingest\n"
        "    imported = time.perf_counter() - t\n"
        "    summary = ingest(**s.parameters())\n"
        "wall = time.perf_counter() - t\n"
        "me = resource.getrusage(resource.RUSAGE_SELF)\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print('BENCH ' + json.dumps({'wall': wall, 'import_s': imported,"
        " 'rss_main_mb': me.ru_maxrss / 1024,"
        " 'rss_worker_mb': kids.ru_maxrss / 1024, 'cpu_main_s': me.ru_utime + me.ru_stime,"
        " 'cpu_workers_s': kids.ru_utime + kids.ru_stime, 'summary': summary}, default=str))\n"
    )
    prefect_env.prefect_defaults()  # the same Prefect defaults as `newsflow run`
    env = dict(os.environ)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    samples: list[float] = []
    done = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(proc.pid, samples, done), daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate()
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"benchmark run failed: {stderr[-2000:]}")
    result = json.loads(line[6:])
    result["process_wall"] = elapsed
    result["rss_main_quarters_mb"] = quarter_peaks(samples)
    return result


def _sample_rss(pid: int, samples: list[float], done: threading.Event) -> None:
    """The run process's RSS in MB (its workers' not included) every 0.2 s until ``done``."""
    try:
        process = psutil.Process(pid)
        while not done.is_set():
            samples.append(process.memory_info().rss / 2**20)
            done.wait(0.2)
    except psutil.Error:  # it exited between two samples
        pass


def quarter_peaks(samples: list[float]) -> list[float]:
    """The highest of evenly spaced samples in each quarter of the run: memory that grows with
    the corpus shows as rising quarters; a bounded pipeline has a flat tail."""
    if len(samples) < 4:
        return []
    bounds = [len(samples) * i // 4 for i in range(5)]
    return [max(samples[a:b]) for a, b in pairwise(bounds)]


def run_bench(
    docs: int,
    workers: int | None = None,
    batch_size: int | None = None,
    corpus: Path | None = None,
    prefect: bool = False,
    json_path: Path | None = None,
) -> dict[str, Any]:
    """Measure on ``docs`` synthetic documents (generated in ``corpus``, reused when it has as
    many), printing as it goes; the figures, also written to ``json_path`` when given."""
    from flows.settings import load_settings
    from flows.tools.synth import write_corpus

    settings = load_settings(workers=workers, batch_size=batch_size)
    workers = settings.workers
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        corpus = corpus or Path(tmp) / "corpus"
        paths = discover([corpus]).paths if corpus.exists() else []
        if len(paths) != docs:
            print(f"generating {docs} documents in {corpus} ...", flush=True)
            started = time.perf_counter()
            write_corpus(corpus, docs)
            paths = discover([corpus]).paths
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        size_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        print(f"corpus: {len(paths)} documents, {size_mb:.0f} MB; {workers} worker(s)", flush=True)

        common = ["--source", str(corpus), "--workers", str(workers),
                  "--batch-size", str(settings.batch_size)]  # fmt: skip
        # The limit is measured right before and right after the cold run and combined, so it
        # covers the same minutes: a shared machine's speed drifts by a third within minutes.
        before = parse_only(paths, workers)
        print(f"parse-only limit (CSafeLoader, {workers} processes), before the cold run: "
              f"{before[0]:,.0f} docs/s", flush=True)  # fmt: skip
        cold = measure_run(["--no-prefect", "--warehouse", f"{tmp}/core.duckdb", *common])
        after = parse_only(paths, workers)
        limit = 2 / (1 / before[0] + 1 / after[0])  # the rate of the two runs' mean time
        print(f"parse-only limit, after the cold run: {after[0]:,.0f} docs/s; "
              f"both: {limit:,.0f} docs/s", flush=True)  # fmt: skip
        rerun = measure_run(["--no-prefect", "--warehouse", f"{tmp}/core.duckdb", *common])
        figures = _report(len(paths), limit, cold, rerun)
        figures["parse_only_before_after"] = [before[0], after[0]]
        figures["cpu"] = _cpu_budget(len(paths), (before[1] + after[1]) / 2, cold)
        if prefect:
            flow = measure_run(["--warehouse", f"{tmp}/flow.duckdb", *common])
            # A second core run right after the flow brackets it, as the limit brackets the
            # cold run: the machine's speed drifts by as much as the target between two runs.
            after_flow = measure_run(
                ["--no-prefect", "--warehouse", f"{tmp}/core-after.duckdb", *common]
            )
            mode = (
                "server " + os.environ["PREFECT_API_URL"]
                if os.environ.get("PREFECT_API_URL")
                else "ephemeral API"
            )
            figures["prefect"] = prefect_overhead(flow, [cold, after_flow], mode)
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2))
    return figures


def prefect_overhead(flow: dict, cores: list[dict], mode: str) -> dict[str, Any]:
    """The flow's overhead over the core runs that bracket it (the mean of their figures), in
    wall time, in wall time after the imports, and in CPU; printed and returned."""

    def core(key: str) -> float:
        return sum(run[key] for run in cores) / len(cores)

    core_wall, core_import = core("wall"), core("import_s")
    overhead = flow["wall"] / core_wall - 1
    # Both walls include importing their code (Prefect alone takes about 2 s). A served
    # deployment pays that too (Prefect's runner starts each flow run in a new spawned
    # process); the figure without it shows what the flow and task engines cost.
    run_only = (flow["wall"] - flow["import_s"]) / (core_wall - core_import) - 1
    # CPU is steadier than wall time on a shared machine, though not immune: sharing the cores
    # with busy neighbours also makes the same work cost more CPU.
    flow_cpu = flow["cpu_main_s"] + flow["cpu_workers_s"]
    core_cpu = core("cpu_main_s") + core("cpu_workers_s")
    cpu_overhead = flow_cpu / core_cpu - 1
    walls = " and ".join(f"{run['wall']:.1f} s" for run in cores)
    print(f"prefect flow ({mode}): {flow['wall']:.1f} s vs core {core_wall:.1f} s (the mean of "
          f"{walls}, before and after it) = {overhead:+.1%} overhead "
          f"({flow['process_wall']:.1f} s with interpreter and API start-up); {run_only:+.1%} "
          f"after the imports (flow {flow['import_s']:.1f} s, core {core_import:.1f} s); CPU "
          f"{flow_cpu:.1f} s vs {core_cpu:.1f} s = {cpu_overhead:+.1%} (run process "
          f"{flow['cpu_main_s']:.1f} s vs {core('cpu_main_s'):.1f} s)")  # fmt: skip
    return {
        "wall": flow["wall"], "core_walls": [run["wall"] for run in cores],
        "core_wall": core_wall, "overhead": overhead, "mode": mode, "cpu_s": flow_cpu,
        "core_cpu_s": core_cpu, "cpu_overhead": cpu_overhead, "import_s": flow["import_s"],
        "core_import_s": core_import, "overhead_after_imports": run_only,
        "seconds": flow["summary"]["seconds"],
    }  # fmt: skip


def _cpu_budget(docs: int, limit_cpu: float, cold: dict) -> dict[str, float]:
    """CPU per document of the limit and of the cold run. Far steadier than wall time on a
    shared machine, and it bounds the ratio: with every core busy all the time, the cold run
    reaches at most (limit CPU) / (run CPU) of the limit, before its serial tail."""
    per = 1e6 / docs
    limit_us = limit_cpu * per
    workers_us, main_us = cold["cpu_workers_s"] * per, cold["cpu_main_s"] * per
    ceiling = limit_us / (workers_us + main_us)
    print(f"CPU per document: parse-only {limit_us:,.0f} µs; cold run {workers_us + main_us:,.0f} "
          f"µs = workers {workers_us:,.0f} ({workers_us / limit_us:.2f}x) + run process "
          f"{main_us:,.0f} ({main_us / limit_us:.2f}x): at most {ceiling:.0%} of the limit "
          "with every core busy, before the serial tail")  # fmt: skip
    return {"parse_only_us_per_doc": limit_us, "workers_us_per_doc": workers_us,
            "run_process_us_per_doc": main_us, "ceiling": ceiling}  # fmt: skip


def _report(docs: int, limit: float, cold: dict, rerun: dict) -> dict[str, Any]:
    seconds = cold["summary"]["seconds"]
    rate = docs / cold["wall"]
    print(f"\ncold run, {docs} documents: {cold['wall']:.1f} s = {rate:,.0f} docs/s "
          f"= {rate / limit:.0%} of the parse-only limit")  # fmt: skip
    for stage, secs in seconds.items():
        per = f"{docs / secs:,.0f} docs/s" if secs > 0 else "-"
        print(f"  {stage:<10} {secs:7.2f} s  {per}")
    print(f"peak RSS: run process {cold['rss_main_mb']:.0f} MB, largest worker "
          f"{cold['rss_worker_mb']:.0f} MB")  # fmt: skip
    if cold["rss_main_quarters_mb"]:
        quarters = " / ".join(f"{mb:.0f}" for mb in cold["rss_main_quarters_mb"])
        print(f"  run process RSS, highest in each quarter of the run: {quarters} MB")
    core = sum(v for k, v in rerun["summary"]["seconds"].items()
               if k in ("discover", "plan", "extract", "load"))  # fmt: skip
    print(f"re-run, nothing changed: {rerun['wall']:.2f} s in all; core stages "
          f"(discover, plan, extract, load) {core:.2f} s; "
          f"{rerun['summary']['files_unchanged']} files skipped unread")  # fmt: skip
    return {
        "docs": docs,
        "parse_only_docs_per_s": limit,
        "cold": {"wall": cold["wall"], "docs_per_s": rate, "ratio": rate / limit,
                 "seconds": seconds, "rss_main_mb": cold["rss_main_mb"],
                 "rss_worker_mb": cold["rss_worker_mb"],
                 "rss_main_quarters_mb": cold["rss_main_quarters_mb"],
                 "files_loaded": cold["summary"]["files_loaded"],
                 "files_superseded": cold["summary"]["files_superseded"]},
        "rerun": {"wall": rerun["wall"], "core_seconds": core,
                  "seconds": rerun["summary"]["seconds"],
                  "files_loaded": rerun["summary"]["files_loaded"],
                  "files_unchanged": rerun["summary"]["files_unchanged"]},
    }  # fmt: skip
