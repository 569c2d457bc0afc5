"""Incremental loads: the ledger skips what did not change; changes, deletions, renames and
shared URLs converge to exactly the rows a clean run would produce."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flows import ingest
from flows.ingest import RunSummary, run_ingest
from flows.load.publish import files_for
from flows.normalize.document import make_id
from flows.records import StageFailed
from flows.settings import Settings
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

    read: list[str] = []
    parsed: list[str] = []
    import flows.normalize.batches as staging

    real_read, real = staging.read_file, staging.parse_document
    monkeypatch.setattr(staging, "read_file", lambda p, n: read.append(p) or real_read(p, n))
    monkeypatch.setattr(
        staging, "parse_document", lambda p, raw, **kw: parsed.append(p) or real(p, raw, **kw)
    )
    summary = run_ingest(settings)
    assert (summary.files_unchanged, read, parsed) == (5, [], [])

    os.utime(src / "0.md", ns=(1, 1))  # new mtime, same bytes: read and hashed, not parsed
    summary = run_ingest(settings)
    assert (summary.files_unchanged, read, parsed) == (5, [str(src / "0.md")], [])
    [row] = query(settings.warehouse, "select mtime_ns from etl.file where path like '%/0.md'")
    assert row == {"mtime_ns": 1}
    assert table_contents(settings.warehouse) == before

    monkeypatch.setattr(
        "flows.normalize.profile.CONTRACT_VERSION", "next"
    )  # a new contract: everything again
    summary = run_ingest(settings)
    assert (summary.files_loaded, len(read), len(parsed)) == (5, 6, 5)
    assert table_contents(settings.warehouse) == before


def test_an_unchanged_rejected_file_is_skipped_unread_until_it_or_the_contract_changes(
    tmp_path: Path, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_doc(src, "good.md", A, "good")
    bad = src / "bad.md"
    bad.write_text("---\nwebUrl: https://example.com/bad\ntopics: [a, b\n---\n")
    settings = make_settings(src)
    first = run_ingest(settings)
    assert (first.files_loaded, first.files_rejected, first.files_still_rejected) == (1, 1, 0)
    rejection = "select path, run_id, first_run_id, kind, line, col from etl.rejection"
    quarantined = {"path": str(bad), "run_id": first.run_id, "first_run_id": first.run_id,
                   "kind": "yaml_syntax", "line": 3, "col": 9}  # fmt: skip
    assert query(settings.warehouse, rejection) == [quarantined]

    read: list[str] = []
    import flows.normalize.batches as staging

    real_read = staging.read_file
    monkeypatch.setattr(staging, "read_file", lambda p, n: read.append(p) or real_read(p, n))
    second = run_ingest(settings)  # nothing changed: nothing is read, nothing rejected again
    assert read == []
    assert (second.files_seen, second.files_loaded, second.files_rejected) == (2, 0, 0)
    assert (second.files_skipped, second.files_unchanged, second.files_still_rejected) == (2, 2, 1)
    assert second.rejections == [] and second.top_reasons == []
    assert query(settings.warehouse, rejection) == [quarantined]  # still quarantined, as it was

    monkeypatch.setattr(
        "flows.normalize.profile.CONTRACT_VERSION", "next"
    )  # a new contract reads it again
    third = run_ingest(settings)
    assert sorted(read) == [str(bad), str(src / "good.md")]
    assert (third.files_loaded, third.files_rejected, third.files_still_rejected) == (1, 1, 0)
    assert query(settings.warehouse, rejection) == [{**quarantined, "run_id": third.run_id}]

    bad.write_text("---\nwebUrl: https://example.com/bad\ntopics: [a, b]\n---\n")  # fixed
    fourth = run_ingest(settings)
    assert (fourth.files_loaded, fourth.files_rejected, fourth.files_still_rejected) == (1, 0, 0)
    assert query(settings.warehouse, rejection) == []


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
    # The data is rebuilt, the history is not: every run is still in etl.run.
    assert len(query(settings.warehouse, "select * from etl.run")) == 3


def test_full_refresh_keeps_the_run_history(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Three full-refresh runs (one failing in between): etl.run holds every run with its
    status; it used to hold only the last one."""
    src = tmp_path / "src"
    src.mkdir()
    write_doc(src, "a.md", A, "a")
    settings = make_settings(src).with_overrides(full_refresh=True)
    first = run_ingest(settings)
    with pytest.raises(StageFailed, match="source not found"):
        run_ingest(settings.with_overrides(sources=(tmp_path / "gone",)))
    third = run_ingest(settings)
    fourth = run_ingest(settings)
    runs = query(
        settings.warehouse,
        "select run_id, status, files_loaded from etl.run order by started_at",
    )
    statuses = [(r["status"], r["files_loaded"]) for r in runs]
    assert statuses == [("success", 1), ("failed", 0), ("success", 1), ("success", 1)]
    assert [runs[i]["run_id"] for i in (0, 2, 3)] == [first.run_id, third.run_id, fourth.run_id]
    assert articles(settings) == [(A, "a", "a.md", False, 0)]
    assert ledger(settings) == {"a.md": "loaded"}


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


def _run_counts(summary: RunSummary) -> tuple:
    return (*counts(summary), summary.articles_retired, summary.rows_inserted,
            summary.rows_updated, summary.rows_deleted)  # fmt: skip


def test_streaming_load_matches_the_whole_run_decision_at_any_batch_size(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Batches are merged while later ones are parsed; copies of a URL spread over batches, and
    articles the warehouse already has, are decided over the whole run. Every batch size (one
    file per transaction up to one transaction for all) must give the same rows, ledger and
    counts at every step."""
    src = tmp_path / "src"
    src.mkdir()
    warehouses = {size: make_settings(src, batch_size=size, warehouse=tmp_path / f"w{size}.duckdb")
                  for size in (1, 2, 3, 1000)}  # fmt: skip

    def step() -> list:
        results = []
        for settings in warehouses.values():
            summary = run_ingest(settings)
            results.append((_run_counts(summary), table_contents(settings.warehouse),
                            ledger(settings), articles(settings)))  # fmt: skip
        for size, r in zip(warehouses, results, strict=True):
            for part, mine, first in zip(
                ("counts", "tables", "ledger", "articles"), r, results[0], strict=True
            ):
                assert mine == first, (size, part)
        return results[0]

    # Cold: A three times (the middle one newest), B once, C twice with the same date.
    write_doc(src, "a1.md", A, "a old", when="2021-01-01T00:00:00Z", images=2)
    write_doc(src, "a2.md", A, "a newest", when="2021-02-01T00:00:00Z", images=1)
    write_doc(src, "a3.md", A, "a middle", when="2021-01-15T00:00:00Z", images=3)
    write_doc(src, "b1.md", B, "b", images=1)
    write_doc(src, "c1.md", C, "c one", topics=("AI", "Chips"))
    write_doc(src, "c2.md", C, "c two", topics=("Chips",))
    run_counts, _, files, rows = step()
    assert run_counts[:3] == (3, 0, 3)
    assert run_counts[6] == {"provider": 1, "article": 3, "related": 0, "image": 2, "topic": 2,
                             "article_topic": 4 if rows[2][1] == "c one" else 3}  # fmt: skip
    assert run_counts[7] == {t: 0 for t in run_counts[7]}  # nothing existed: nothing updated
    assert rows[0] == (A, "a newest", "a2.md", False, 1)
    assert (files["a1.md"], files["a2.md"], files["a3.md"]) == (
        "superseded",
        "loaded",
        "superseded",
    )

    # The winner goes back in time (a3 takes over), B gets a newer copy, C's winner is deleted.
    write_doc(src, "a2.md", A, "a backdated", when="2020-01-01T00:00:00Z", images=1)
    write_doc(src, "b2.md", B, "b newer", when="2021-03-01T00:00:00Z", images=2)
    c_winner = "c1.md" if rows[2][2] == "c1.md" else "c2.md"
    (src / c_winner).unlink()
    run_counts, _, files, rows = step()
    assert [r[:3] for r in rows] == [(A, "a middle", "a3.md"), (B, "b newer", "b2.md"),
                                     (C, rows[2][1], "c2.md" if c_winner == "c1.md" else "c1.md")]  # fmt: skip
    assert files["a3.md"] == "loaded" and files["b1.md"] == "superseded"

    # Nothing changed: nothing is read, every warehouse stays as it was.
    run_counts, *_ = step()
    assert run_counts[:3] == (0, 3, 3)


def test_groups_cut_before_the_last_chunks_in_flight() -> None:
    """Groups of about batch_size files as chunks arrive; the chunks the workers parse side by
    side at the end form the last group, so little is left to load once they are done."""
    from flows.normalize.batches import ChunkSummary

    chunks = [ChunkSummary(f"b{i}", 1000, 1000, 0, 0) for i in range(25)]
    sizes = [len(g) for g in ingest._groups(chunks, 10_000, total=25_000, last=2_000)]
    assert sizes == [10, 10, 3, 2]
    assert [len(g) for g in ingest._groups(chunks, 10_000)] == [10, 10, 5]
    # a run smaller than what is in flight is one group; the boundary is cut once
    assert [len(g) for g in ingest._groups(chunks[:2], 10_000, total=2_000, last=2_000)] == [2]
    assert [len(g) for g in ingest._groups(chunks[:3], 10_000, total=3_000, last=2_000)] == [1, 2]
    uneven = [ChunkSummary(f"c{i}", n, n, 0, 0) for i, n in enumerate([700, 700, 400, 300, 300])]
    assert [g for g in ingest._groups(uneven, 1_000, total=2_400, last=600)] == [
        ["c0", "c1"], ["c2"], ["c3", "c4"]
    ]  # fmt: skip
    # cut once, at the first chunk that leaves no more than the last files to come
    assert [g for g in ingest._groups(uneven[1:], 1_000, total=1_700, last=1_000)] == [
        ["c1"], ["c2", "c3", "c4"]
    ]  # fmt: skip
