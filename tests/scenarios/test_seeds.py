"""The sample corpus loads completely, with the counts and winners the seeds README promises."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.ingest import RunSummary, run_ingest
from flows.settings import DEFAULT_SOURCE, Settings, load_settings
from tests.conftest import query, table_contents


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RunSummary]:
    # Small batches on two processes, to exercise the parallel path on real documents.
    settings = load_settings(
        env={}, warehouse=tmp_path_factory.mktemp("seeds") / "seeds.duckdb", workers=2, batch_size=7
    )
    return settings, run_ingest(settings)


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8-sig")
    return yaml.safe_load(text.split("\n---", 1)[0].removeprefix("---\n"))


def test_seed_corpus_loads_without_rejections(seeds_run: tuple[Settings, RunSummary]) -> None:
    _, summary = seeds_run
    assert summary.status == "success"
    assert (summary.files_seen, summary.files_loaded, summary.files_rejected, summary.warnings) == (
        49, 48, 0, 0,
    )  # fmt: skip
    assert summary.files_superseded == 1


def test_one_article_per_distinct_canonical_url(seeds_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = seeds_run
    files = sorted(DEFAULT_SOURCE.rglob("*.*"))
    urls = {
        (_front_matter(p).get("webUrl") or _front_matter(p)["originalUrl"]).strip()
        for p in files
        if p.suffix in {".txt", ".md"}
    }
    assert query(settings.warehouse, "select count(*) as n from article") == [{"n": len(urls)}]
    assert len(urls) == 48


def test_recrawled_copy_wins(seeds_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = seeds_run
    early = _front_matter(DEFAULT_SOURCE / "017_39102b6beef32002.txt")
    late = _front_matter(DEFAULT_SOURCE / "017b_39102b6beef32002.txt")
    assert early["webUrl"] == late["webUrl"]
    [row] = query(
        settings.warehouse,
        "select title, quality, regexp_extract(source_path, '[^/]+$') as file from article "
        "where web_url = ?",
        [late["webUrl"]],
    )
    assert row == {
        "title": late["title"],
        "quality": late["quality"],
        "file": "017b_39102b6beef32002.txt",
    }


def test_provider_spellings_collapse_to_one_row(seeds_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = seeds_run
    rows = query(
        settings.warehouse,
        "select domain, name from provider where domain like '%reuters%' or domain like '%verge%' order by domain",
    )
    assert rows == [
        {"domain": "reuters.com", "name": "Reuters"},
        {"domain": "theverge.com", "name": "The Verge"},
    ]
    assert query(settings.warehouse, "select count(*) as n from provider") == [{"n": 16}]


def test_related_entries_join_to_loaded_articles(seeds_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = seeds_run
    loaded = [p for p in sorted(DEFAULT_SOURCE.rglob("*")) if p.suffix in {".txt", ".md"}
              and p.name != "017_39102b6beef32002.txt"]  # fmt: skip
    docs = [_front_matter(p) for p in loaded]
    article_urls = {d["webUrl"] for d in docs}
    entries = [r for d in docs for r in d.get("related") or []]
    expected = sum(1 for r in entries if r.get("webUrl") in article_urls)
    [row] = query(
        settings.warehouse,
        "select count(*) as total, count(article.article_id) as joined from related "
        "left join article on article.article_id = related.related_article_id",
    )
    assert row == {"total": len(entries), "joined": expected}
    assert expected >= 6


def test_parallel_and_serial_runs_give_identical_tables(
    seeds_run: tuple[Settings, RunSummary], tmp_path: Path
) -> None:
    settings, _ = seeds_run
    serial = load_settings(env={}, warehouse=tmp_path / "serial.duckdb", workers=1)
    run_ingest(serial)
    assert table_contents(serial.warehouse) == table_contents(settings.warehouse)
