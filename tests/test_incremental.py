"""Incremental loads: the ledger skips what did not change; changes, deletions, renames and
shared URLs converge to exactly the rows a clean run would produce."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flows import core
from flows.core import RunSummary, run_ingest
from flows.normalize import make_id
from flows.settings import Settings
from flows.warehouse import files_for
from tests.conftest import query, table_contents


def write_doc(
    folder: Path, name: str, url: str, title: str, when: str = "2021-01-01T00:00:00Z",
    images: int = 0, topics: tuple[str, ...] = ("AI",),
) -> Path:  # fmt: skip
    lines = ["---", f'title: "{title}"', f'webUrl: "{url}"', f"publishedDateTime: {when}",
             "provider:", "  name: Example", "  domain: example.com", "topics:"]  # fmt: skip
    lines += [f"  - {t}" for t in topics]
    lines += ["images:" if images else "images: []"]
    lines += [f'  - url: "{url}/img{i}.jpg"' for i in range(images)]
    path = folder / name
    path.write_text("\n".join([*lines, "---", ""]))
    return path


def articles(settings: Settings) -> list[tuple]:
    rows = query(
        settings.warehouse,
        "select canonical_url, title, regexp_extract(source_path, '[^/]+$') as file, "
        "deleted_at is not null as deleted, "
        "(select count(*) from image where image.article_id = article.article_id) as images "
        "from article order by canonical_url",
    )
    return [tuple(r.values()) for r in rows]


def ledger(settings: Settings) -> dict[str, str]:
    rows = query(settings.warehouse, "select path, status from etl.file order by path")
    return {Path(r["path"]).name: r["status"] for r in rows}


def counts(summary: RunSummary) -> tuple[int, ...]:
    return (summary.files_loaded, summary.files_unchanged, summary.files_superseded,
            summary.files_rejected, summary.files_deleted)  # fmt: skip


A, B, C = "https://example.com/a", "https://example.com/b", "https://example.com/c"


def test_add_modify_delete_rename_cycle(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    settings = make_settings(src)
    write_doc(src, "a.md", A, "a one", images=2)
    write_doc(src, "b.md", B, "b one")
    assert counts(run_ingest(settings)) == (2, 0, 0, 0, 0)
    assert articles(settings) == [(A, "a one", "a.md", False, 2), (B, "b one", "b.md", False, 0)]

    write_doc(src, "a.md", A, "a two", images=1)  # modify
    summary = run_ingest(settings)
    assert counts(summary) == (1, 1, 0, 0, 0)
    assert (summary.rows_updated["article"], summary.rows_deleted["image"]) == (1, 1)
    assert articles(settings) == [(A, "a two", "a.md", False, 1), (B, "b one", "b.md", False, 0)]

    write_doc(src, "c.md", C, "c one")  # add
    assert counts(run_ingest(settings)) == (1, 2, 0, 0, 0)

    (src / "b.md").unlink()  # delete: kept, marked deleted
    summary = run_ingest(settings)
    assert counts(summary) == (0, 2, 0, 0, 1)
    assert summary.articles_retired == 1
    assert articles(settings) == [
        (A, "a two", "a.md", False, 1), (B, "b one", "b.md", True, 0), (C, "c one", "c.md", False, 0),
    ]  # fmt: skip
    assert ledger(settings) == {"a.md": "loaded", "b.md": "deleted", "c.md": "loaded"}
    live = query(settings.warehouse, "select sum(article_count)::int as n from quality_by_provider")
    assert live == [{"n": 2}]  # models read live articles only

    os.rename(src / "c.md", src / "d.md")  # rename: same article, new source
    summary = run_ingest(settings)
    assert counts(summary) == (1, 1, 0, 0, 1)
    assert articles(settings)[2] == (C, "c one", "d.md", False, 0)

    write_doc(src, "a.md", "https://example.com/a2", "a moved")  # the file now names another URL
    summary = run_ingest(settings)
    assert summary.articles_retired == 1
    assert [(r[0], r[2], r[3]) for r in articles(settings)] == [
        (A, "a.md", True), ("https://example.com/a2", "a.md", False), (B, "b.md", True),
        (C, "d.md", False),
    ]  # fmt: skip

    write_doc(src, "b.md", B, "b one")  # it comes back
    run_ingest(settings)
    assert articles(settings)[2] == (B, "b one", "b.md", False, 0)

    pruned = run_ingest(settings.with_overrides(prune=True))  # --prune: retired rows go
    assert pruned.rows_deleted["article"] == 1
    assert [r[0] for r in articles(settings)] == ["https://example.com/a2", B, C]
    assert query(settings.warehouse, "select count(*) as n from image") == [{"n": 0}]

    # Converges to exactly what a clean run over the same files builds (ledger aside).
    clean = make_settings(src, warehouse=tmp_path / "clean.duckdb")
    run_ingest(clean)
    assert table_contents(settings.warehouse) == table_contents(clean.warehouse)


def test_shared_url_winner_holds_through_edits_and_deletions(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    settings = make_settings(src, batch_size=1)
    write_doc(src, "x1.md", A, "first", when="2021-01-01T00:00:00Z")
    write_doc(src, "x2.md", A, "second", when="2021-01-02T00:00:00Z")
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.files_superseded) == (1, 1)
    assert articles(settings) == [(A, "second", "x2.md", False, 0)]

    # The winner is edited to an older date: the loser is read again and now wins.
    write_doc(src, "x2.md", A, "second, backdated", when="2020-12-31T00:00:00Z")
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.files_superseded) == (1, 1)
    assert articles(settings) == [(A, "first", "x1.md", False, 0)]
    assert ledger(settings) == {"x1.md": "loaded", "x2.md": "superseded"}

    # The winner is deleted: the other copy takes over, nothing is retired.
    (src / "x1.md").unlink()
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.articles_retired) == (1, 0)
    assert articles(settings) == [(A, "second, backdated", "x2.md", False, 0)]

    # A newer copy arrives later: it displaces the loaded one, which becomes superseded.
    write_doc(src, "x3.md", A, "third", when="2021-02-01T00:00:00Z")
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.files_unchanged, summary.files_superseded) == (1, 0, 1)
    assert ledger(settings) == {"x1.md": "deleted", "x2.md": "superseded", "x3.md": "loaded"}


def test_unchanged_files_are_not_read_and_touched_files_not_parsed(
    tmp_path: Path, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        write_doc(src, f"{i}.md", f"{A}{i}", f"t{i}")
    settings = make_settings(src)
    run_ingest(settings)
    before = table_contents(settings.warehouse)

    parsed: list[str] = []
    import flows.staging as staging

    real = staging.parse_document
    monkeypatch.setattr(staging, "parse_document", lambda p, raw: parsed.append(p) or real(p, raw))
    summary = run_ingest(settings)
    assert (summary.files_unchanged, summary.seconds["extract"] < 5, parsed) == (5, True, [])

    os.utime(src / "0.md", ns=(1, 1))  # new mtime, same bytes: read and hashed, not parsed
    summary = run_ingest(settings)
    assert (summary.files_unchanged, parsed) == (5, [])
    [row] = query(settings.warehouse, "select mtime_ns from etl.file where path like '%/0.md'")
    assert row == {"mtime_ns": 1}
    assert table_contents(settings.warehouse) == before

    monkeypatch.setattr(core, "CONTRACT_VERSION", "next")  # a new contract: everything again
    summary = run_ingest(settings)
    assert (summary.files_loaded, len(parsed)) == (5, 5)
    assert table_contents(settings.warehouse) == before


def test_full_refresh_rebuilds_from_the_sources(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_doc(src, "a.md", A, "a")
    write_doc(src, "b.md", B, "b")
    settings = make_settings(src)
    run_ingest(settings)
    (src / "b.md").unlink()
    run_ingest(settings)
    assert len(articles(settings)) == 2  # B kept, marked deleted
    summary = run_ingest(settings.with_overrides(full_refresh=True))
    assert summary.files_loaded == 1
    assert articles(settings) == [(A, "a", "a.md", False, 0)]
    assert ledger(settings) == {"a.md": "loaded"}
    assert len(query(settings.warehouse, "select * from etl.run")) == 1


def test_working_copy_is_rebuilt_from_the_published_file(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_doc(src, "a.md", A, "a")
    settings = make_settings(src)
    run_ingest(settings)
    shutil.rmtree(files_for(settings.warehouse).home)
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.files_unchanged) == (0, 1)
    assert (
        make_id("article", A)
        == query(settings.warehouse, "select article_id from article")[0]["article_id"]
    )
