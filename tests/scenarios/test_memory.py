"""Memory bounded by design (docs/memory.md): documents under the size limit, however many, load
within the DuckDB memory limit; load groups are cut by bytes as well as by files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows import ingest
from flows.normalize.batches import ChunkSummary
from flows.settings import load_settings
from flows.tools.synth import write_big_corpus
from tests.conftest import query

# `python -m` from the checkout: the code under test, whichever tree the venv was installed from
NEWSFLOW = [sys.executable, "-m", "flows.cli.main"]
REPO = Path(__file__).resolve().parents[2]
MIB = 2**20


def test_load_groups_are_cut_by_staged_bytes() -> None:
    chunks = [ChunkSummary(f"b{i}", 4, 4, 0, 0, 26 * MIB) for i in range(5)]
    # 64 MiB a group (a quarter of the default 256 MB limit): two 26 MiB batches each
    assert [len(g) for g in ingest._groups(chunks, 10_000, max_bytes=64 * MIB)] == [2, 2, 1]
    # a batch larger than the budget is a group of its own; files still cut too
    assert [len(g) for g in ingest._groups(chunks, 10_000, max_bytes=16 * MIB)] == [1] * 5
    assert [len(g) for g in ingest._groups(chunks, 8, max_bytes=1024 * MIB)] == [2, 2, 1]
    normal = [ChunkSummary(f"n{i}", 1000, 1000, 0, 0, 8 * MIB) for i in range(25)]
    assert [len(g) for g in ingest._groups(normal, 10_000, max_bytes=64 * MIB)] == [8, 8, 8, 1]


def test_budgets_follow_the_memory_limit() -> None:
    default = load_settings(env={})
    assert (ingest.group_bytes(default), ingest.chunk_bytes(default)) == (64 * MIB, 16 * MIB)
    assert ingest.checkpoint_mb(default) == 128
    small = load_settings(env={}, duckdb_memory_mb=64, checkpoint_mb=128)
    assert (ingest.group_bytes(small), ingest.chunk_bytes(small)) == (16 * MIB, 8 * MIB)
    assert ingest.checkpoint_mb(small) == 32


@pytest.mark.slow
def test_a_hundred_files_at_the_size_limit_load_within_the_memory_limit(tmp_path: Path) -> None:
    """100 hostile documents of exactly --max-file-bytes (1 MiB: long texts, thousands of list
    entries, a long body), 165 MB staged, through a real `newsflow run` with a 64 MB DuckDB
    memory limit: the load used to merge them in one transaction and fail with "Out of Memory
    Error" (topic_pairs, quadratic in an article's topics, failed too)."""
    write_big_corpus(tmp_path / "src", 100, MIB)
    warehouse = tmp_path / "w" / "news.duckdb"
    done = subprocess.run(
        [*NEWSFLOW, "run", "--no-prefect", "--quiet", "--source", str(tmp_path / "src"),
         "--warehouse", str(warehouse), "--max-file-bytes", str(MIB), "--workers", "2",
         "--duckdb-memory-mb", "64"],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    counts = query(
        warehouse,
        "select (select count(*) from article) as articles, "
        "(select count(*) from related) as related, (select count(*) from image) as images, "
        "(select count(*) from article_topic) as article_topics, "
        "(select count(*) from etl.rejection) as rejected, "
        "(select max(length(body)) from article) > 300000 as long_body, "
        "(select max(length(excerpt)) from article) > 200000 as long_excerpt, "
        "(select count(*) from topic_pairs) > 0 as pairs",
    )
    assert counts == [{
        "articles": 100, "related": 43600, "images": 79400, "article_topics": 109200,
        "rejected": 0, "long_body": True, "long_excerpt": True, "pairs": True,
    }]  # fmt: skip
