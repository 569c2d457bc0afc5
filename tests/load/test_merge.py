"""Load: exact rows in DuckDB, idempotence, replacement of child rows, winners, atomicity."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from flows.db import ROW_GROUP_SIZE, connect, cursor
from flows.ingest import RunSummary, run_ingest
from flows.load.merge import load_batch, prepare_run
from flows.load.publish import files_for
from flows.normalize.batches import build_tables, process_file
from flows.normalize.contract import CONTRACT_VERSION
from flows.records import StageFailed
from flows.settings import Settings
from tests import golden_seed
from tests.conftest import CORPUS, SEED, query, table_contents

UTC = dt.UTC
ARTICLE_ID = golden_seed.ARTICLE["article_id"]


def test_seed_rows_in_the_warehouse_are_exact(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    wh = settings.warehouse
    [article] = query(wh, "select * from article where article_id = ?", [ARTICLE_ID])
    assert article == {**golden_seed.ARTICLE, "source_path": SEED.as_posix(), "deleted_at": None}
    related = query(
        wh, "select * from related where article_id = ? order by position", [ARTICLE_ID]
    )
    assert related == golden_seed.RELATED
    images = query(
        wh, "select * from image where article_id = ? order by related_id nulls first", [ARTICLE_ID]
    )
    assert images == golden_seed.IMAGES
    topics = query(
        wh,
        "select topic.* from article_topic join topic on topic.topic_id = article_topic.topic_id "
        "where article_topic.article_id = ? order by article_topic.position",
        [ARTICLE_ID],
    )
    assert topics == golden_seed.TOPICS
    assert (
        query(
            wh, "select * from article_topic where article_id = ? order by position", [ARTICLE_ID]
        )
        == golden_seed.ARTICLE_TOPICS
    )
    providers = query(
        wh,
        "select * from provider where provider_id in (select unnest(?)) order by provider_id",
        [[p["provider_id"] for p in golden_seed.PROVIDERS]],
    )
    assert providers == sorted(golden_seed.PROVIDERS, key=lambda p: p["provider_id"])


def test_fixture_run_accounting(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, summary = fixture_run
    assert summary.status == "success"
    counts = (summary.files_seen, summary.files_loaded, summary.files_rejected,
              summary.files_skipped, summary.files_ignored)  # fmt: skip
    assert counts == (10, 4, 4, 1, 1)  # data.json is ignored; dup_early.txt is superseded
    assert summary.files_seen == sum(counts[1:])
    assert (summary.files_unchanged, summary.files_superseded) == (0, 1)
    assert summary.table_rows == {
        "provider": 5, "article": 4, "related": 3, "image": 6, "topic": 6, "article_topic": 8,
    }  # fmt: skip
    [run] = query(
        settings.warehouse,
        "select status, files_seen, files_loaded, files_rejected, files_skipped, files_ignored "
        "from etl.run",
    )
    assert run == {"status": "success", "files_seen": 10, "files_loaded": 4, "files_rejected": 4,
                   "files_skipped": 1, "files_ignored": 1}  # fmt: skip
    rejections = query(
        settings.warehouse,
        "select regexp_extract(path, '[^/]+$') as file, stage, kind, reason, line, col "
        "from etl.rejection order by file",
    )
    assert rejections == [
        {"file": "missing_close.txt", "stage": "extract", "kind": "unclosed_front_matter",
         "line": 3, "col": 1, "reason": "front matter is not closed: no closing '---' or '...' line"},
        {"file": "no_url.md", "stage": "normalize", "kind": "no_url", "line": None, "col": None,
         "reason": "no webUrl or originalUrl: an article needs a URL to be identified"},
        {"file": "notes.txt", "stage": "extract", "kind": "no_front_matter", "line": 1, "col": 1,
         "reason": "no front matter: the first line must be '---' (YAML), '+++' (TOML) or start with '{' (JSON)"},
        {"file": "tab_indent.txt", "stage": "extract", "kind": "yaml_syntax", "line": 5, "col": 1,
         "reason": "could not parse front matter: found character that cannot start any token "
                   "(a tab: YAML is indented with spaces)"},
    ]  # fmt: skip
    assert [(r["kind"], r["files"]) for r in summary.top_reasons] == [
        ("no_front_matter", 1), ("no_url", 1), ("unclosed_front_matter", 1), ("yaml_syntax", 1),
    ]  # fmt: skip
    warnings = query(
        settings.warehouse,
        "select regexp_extract(path, '[^/]+$') as file, field from etl.warning order by file, field",
    )
    assert warnings == [
        {"file": "dashes_in_value.txt", "field": f}
        for f in [
            "images[1].width",
            "images[2].url",
            "published",
            "publishedDateTime",
            "quality",
            "topics[3]",
        ]  # topics[3]: 'ai' repeats 'AI' (dropped, now with a warning)
    ]
    # every value of another type converted without loss: only the unknown key is drift
    assert [(d["key_path"], d["observed_type"], d["expected_type"], d["documents"])
            for d in summary.drift] == [("language", "text", None, 1)]  # fmt: skip
    assert all(d["example_path"].endswith("dashes_in_value.txt") for d in summary.drift)


def test_raw_front_matter_is_recoverable(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    [row] = query(
        settings.warehouse,
        "select front_matter, source_path from etl.front_matter where article_id = ?",
        [ARTICLE_ID],
    )
    text = SEED.read_text(encoding="utf-8")
    assert "---\n" + row["front_matter"] + "---\n" == text[: text.index("\n---\n") + 5]
    assert row["source_path"] == SEED.as_posix()
    loaded = query(settings.warehouse, "select count(*) as n from etl.front_matter")
    assert loaded == [{"n": 4}]


def test_newest_copy_of_a_shared_url_wins(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    [article] = query(
        settings.warehouse,
        "select title, quality, is_published, regexp_extract(source_path, '[^/]+$') as file "
        "from article where canonical_url = 'https://example.com/quantum-chip'",
    )
    assert article == {"title": "Quantum chip announced (updated)", "quality": 55,
                       "is_published": True, "file": "dup_late.txt"}  # fmt: skip
    images = query(
        settings.warehouse,
        "select url from image join article using (article_id) "
        "where canonical_url = 'https://example.com/quantum-chip'",
    )
    assert images == [{"url": "https://example.com/q3.jpg"}]
    [provider] = query(settings.warehouse, "select * from provider where domain = 'example.com'")
    assert provider["name"] == "Example News Ltd"


@pytest.mark.parametrize(
    "order", [("dup_early.txt", "dup_late.txt"), ("dup_late.txt", "dup_early.txt")]
)
def test_winner_does_not_depend_on_arrival_order(
    order: tuple[str, str], copy_corpus: Callable[..., Path], make_settings: Callable[..., Settings]
) -> None:
    first = copy_corpus(order[0], into="first")
    second = copy_corpus(order[1], into="second")
    settings = make_settings(first)
    run_ingest(settings)
    summary = run_ingest(make_settings(first, second))
    rows = query(settings.warehouse, "select title, quality from article")
    assert rows == [{"title": "Quantum chip announced (updated)", "quality": 55}]
    assert query(settings.warehouse, "select url from image order by url") == [
        {"url": "https://example.com/q3.jpg"}
    ]
    assert summary.files_superseded == 1


def test_second_run_changes_nothing(
    copy_corpus: Callable[..., Path], make_settings: Callable[..., Settings]
) -> None:
    src = CORPUS
    settings = make_settings(src, batch_size=2)
    first = run_ingest(settings)
    before = table_contents(settings.warehouse)
    second = run_ingest(settings)
    assert table_contents(settings.warehouse) == before
    assert list(files_for(settings.warehouse).home.rglob("batch-*")) == []  # staging removed
    # the 4 rejected files are unchanged too: skipped unread, still quarantined
    assert (second.files_loaded, second.files_unchanged, second.files_superseded) == (0, 8, 1)
    assert (second.files_rejected, second.files_skipped, second.files_ignored) == (0, 9, 1)
    assert second.files_still_rejected == 4
    assert second.rows_inserted == {t: 0 for t in first.rows_inserted}
    assert sum(second.rows_deleted.values()) == 0


def test_changed_document_replaces_all_child_rows(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SEED, src / "seed.txt")
    settings = make_settings(src)
    run_ingest(settings)
    text = (src / "seed.txt").read_text()
    # Drop the article's own image and the last related entry; rename a topic.
    head, _, rest = text.partition("images:\n")
    _, _, rest = rest.partition("related:\n")
    rest = rest[
        : rest.index(
            '  - title: "Alibaba facial recognition tech specifically picks out Uighur minority"'
        )
    ]
    edited = head.replace("  - Computer Vision\n", "  - Surveillance\n") + "related:\n" + rest
    edited += 'secured: "x"\n---\n'
    (src / "seed.txt").write_text(edited)
    summary = run_ingest(settings)
    assert summary.files_loaded == 1
    wh = settings.warehouse
    assert query(wh, "select count(*) as n from image where related_id is null") == [{"n": 0}]
    assert query(wh, "select position from related order by position") == [
        {"position": 1},
        {"position": 2},
    ]
    assert [r["name"] for r in query(
        wh, "select name from topic join article_topic using (topic_id) order by position"
    )] == ["Natural Language Processing", "AI", "Surveillance"]  # fmt: skip
    assert query(wh, "select count(*) as n from image") == [{"n": 2}]
    assert query(wh, "select secured from article") == [{"secured": "x"}]


def test_failed_batch_rolls_back_and_keeps_loaded_data(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(SEED)
    run_ingest(settings)
    working = files_for(settings.warehouse).working
    before = table_contents(working), query(working, "select * from etl.file")
    # A newer copy of the seed: its batch deletes the loaded rows first, then fails on the image
    # insert (url is NOT NULL), after the article rows were already written.
    changed = tmp_path / "seed.txt"
    newer = "publishedDateTime: 2020-12-18T17:43:00Z"
    changed.write_text(SEED.read_text().replace("publishedDateTime: 2020-12-17T17:43:00Z", newer))
    read, result = process_file(changed.as_posix(), 100_000)
    tables = build_tables([result], [read])
    image = tables["image"]
    tables["image"] = image.set_column(
        image.schema.get_field_index("url"), "url", pa.nulls(image.num_rows, pa.string())
    )
    conn = connect(working)
    try:
        candidates = tables["article"].select(
            ["article_id", "published_at", "source_sha256", "source_path"]
        )
        prepare_run(conn, candidates, [])
        with pytest.raises(StageFailed, match=r"load failed: batch rolled back: .*NOT NULL"):
            load_batch(conn, tables, "run-x", CONTRACT_VERSION)
    finally:
        conn.close()
    assert (table_contents(working), query(working, "select * from etl.file")) == before


def test_provider_name_is_the_latest_mention(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, when, pname in [("a.md", "2021-01-01T00:00:00Z", "Old Name"),
                              ("b.md", "2021-06-01T00:00:00Z", "New Name"),
                              ("c.md", "2021-03-01T00:00:00Z", "Middle Name")]:  # fmt: skip
        (src / name).write_text(
            f"---\nwebUrl: https://www.site.org/{name}\npublishedDateTime: {when}\n"
            f"provider:\n  name: {pname}\n  domain: WWW.Site.org\n---\n"
        )
    for batch_size in (1, 10):
        settings = make_settings(
            src, batch_size=batch_size, warehouse=tmp_path / f"{batch_size}.duckdb"
        )
        run_ingest(settings)
        assert query(settings.warehouse, "select domain, name, name_observed_at from provider") == [
            {"domain": "site.org", "name": "New Name",
             "name_observed_at": dt.datetime(2021, 6, 1, tzinfo=UTC)}
        ]  # fmt: skip


def test_writers_write_row_groups_of_row_group_size(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    rows = 2 * ROW_GROUP_SIZE + 5
    conn = connect(path)
    try:
        conn.execute(f"create table t as select range as i from range({rows})")
        conn.execute("checkpoint")
        # a cursor reads the same catalog (USE holds per connection)
        other = cursor(conn)
        try:
            assert other.execute("select count(*), sum(i) from t").fetchone() == (
                rows,
                rows * (rows - 1) // 2,
            )
        finally:
            other.close()
        # spills go beside the file, as for duckdb.connect(file), not into the current folder
        spill = conn.execute("select current_setting('temp_directory')").fetchone()[0]
        assert spill == f"{path}.tmp"
    finally:
        conn.close()
    groups = query(
        path,
        "select row_group_id, sum(count)::integer as n from pragma_storage_info('t') "
        "where column_path = '[0]' group by all order by 1",
    )
    assert [g["n"] for g in groups] == [ROW_GROUP_SIZE, ROW_GROUP_SIZE, 5]
