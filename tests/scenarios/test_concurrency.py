"""One writer, many readers: an open reader never fails a run and never sees half of one; a
second run waits or fails naming the first; kill -9 at any moment leaves a warehouse that opens,
passes its data tests, and converges on the next run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from flows.load.publish import files_for
from flows.settings import load_settings
from flows.tools.synth import write_corpus
from tests.conftest import query, table_contents

pytestmark = pytest.mark.slow
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}


def newsflow(*args: str, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = [NEWSFLOW, *args]
    if not wait:
        return subprocess.Popen(
            cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conc") / "corpus"
    write_corpus(root, 2000, seed=5)
    return root


def test_an_open_reader_never_blocks_a_run_and_sees_the_previous_run(
    corpus: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "r.duckdb"
    first = corpus / "0000"  # 1,000 documents
    assert (
        newsflow(
            "run", "--no-prefect", "--source", str(first), "--warehouse", str(warehouse)
        ).returncode
        == 0
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(warehouse)!r}, read_only=True)\n"
            "print(con.execute('select count(*) from article').fetchone()[0], flush=True)\n"
            "sys.stdin.readline()\n"
            "print(con.execute('select count(*) from article').fetchone()[0], flush=True)\n"
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    before = int(reader.stdout.readline())
    run = newsflow("run", "--no-prefect", "--source", str(corpus), "--warehouse", str(warehouse))
    assert run.returncode == 0, run.stderr
    reader.stdin.write("\n")
    reader.stdin.flush()
    still = int(reader.stdout.readline())
    reader.wait(timeout=60)
    now = query(warehouse, "select count(*) as n from article")[0]["n"]
    assert before == still < now
    assert query(warehouse, "select count(*) as n from etl.run where status = 'success'") == [
        {"n": 2}
    ]


def test_a_second_run_waits_or_fails_naming_the_first(corpus: Path, tmp_path: Path) -> None:
    warehouse = str(tmp_path / "c.duckdb")
    common = [
        "run",
        "--no-prefect",
        "--source",
        str(corpus),
        "--warehouse",
        warehouse,
        "--workers",
        "1",
    ]
    first = newsflow(*common, wait=False)
    holder = files_for(Path(warehouse)).holder
    deadline = time.monotonic() + 60
    while not holder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    impatient = newsflow(*common, "--lock-timeout", "0")
    assert impatient.returncode == 1
    assert "another newsflow run holds the warehouse" in impatient.stderr
    assert f"pid {first.pid}" in impatient.stderr
    patient = newsflow(*common, "--lock-timeout", "300", wait=False)
    assert first.wait(timeout=600) == 0
    assert patient.wait(timeout=600) == 0
    runs = query(Path(warehouse), "select status, files_loaded from etl.run order by started_at")
    # The impatient run never got the lock, so it never touched the warehouse.
    assert [r["status"] for r in runs] == ["success", "success"]
    assert runs[-1]["files_loaded"] == 0  # the second run found everything loaded


def test_kill_9_at_any_moment_then_converges(corpus: Path, tmp_path: Path) -> None:
    """NEWSFLOW_CRASH_DOCS / NEWSFLOW_CRASH_KILLS scale it up (acceptance: 20000 and 10)."""
    docs = int(os.environ.get("NEWSFLOW_CRASH_DOCS", "0"))
    kills = int(os.environ.get("NEWSFLOW_CRASH_KILLS", "5"))
    if docs:
        corpus = tmp_path / "big"
        write_corpus(corpus, docs, seed=9)
    clean = load_settings(env={}, sources=(corpus,), warehouse=tmp_path / "clean.duckdb", workers=2)
    run_ingest(clean)
    expected = table_contents(clean.warehouse)

    warehouse = tmp_path / "k.duckdb"
    args = ["run", "--no-prefect", "--source", str(corpus), "--warehouse", str(warehouse),
            "--batch-size", "150"]  # fmt: skip
    started = time.perf_counter()
    run_ingest(load_settings(env={}, sources=(corpus,), warehouse=tmp_path / "t.duckdb", workers=2))
    span = time.perf_counter() - started  # how long a whole run takes here
    rng = random.Random(kills)
    for delay in sorted(rng.uniform(0.3, span) for _ in range(kills)):
        proc = newsflow(*args, wait=False)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if warehouse.exists():  # what readers see: the last complete run, passing its tests
            checked = newsflow("check", "--warehouse", str(warehouse))
            assert checked.returncode == 0, (delay, checked.stdout[-2000:])
        working = files_for(warehouse).working
        if working.exists():  # the writer's copy opens, with whole batches only
            [row] = query(working, "select count(*) = count(distinct article_id) as ok, "
                          "count(*) filter (where article_id not in (select article_id from "
                          "etl.front_matter)) as torn from article")  # fmt: skip
            assert row == {"ok": True, "torn": 0}, delay
    final = newsflow(*args)
    assert final.returncode == 0, final.stderr
    assert table_contents(warehouse) == expected
