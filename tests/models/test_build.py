"""Models: exact values of every model on the tiny corpus, dependency order, selection, and
errors that name files.

Expected values are worked out by hand from tests/fixtures/corpus (see the comments), and from
tests/fixtures/models/citing.md for what the corpus alone cannot show (related entries that are
loaded articles, two articles in one week or month).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from flows.cli import main as cli
from flows.ingest import RunSummary, run_ingest
from flows.models.build import (
    discover_models,
    order_models,
    parse_header,
    referenced_relations,
    run_models,
    select_models,
)
from flows.models.datatests import run_data_tests
from flows.normalize.document import make_id
from flows.records import StageFailed
from flows.settings import SQL_DIR, Settings, load_settings
from tests.conftest import CORPUS, TESTS, query

UTC = dt.UTC
MODELS_FIXTURE = TESTS / "fixtures" / "models"

ALJAZEERA = make_id("provider", "aljazeera.com")
EXAMPLE = make_id("provider", "example.com")
REUTERS = make_id("provider", "reuters.com")
GUARDIAN = make_id("provider", "theguardian.com")
DHAKA = make_id("provider", "dhakatribune.com")
SEED_URL = (
    "https://www.aljazeera.com/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-"
    "uighurs-report"
)
SEED = make_id("article", SEED_URL)
BOM = make_id("article", "https://example.com/bom-crlf")
DASHES = make_id("article", "https://example.com/dashes")
QUANTUM = make_id("article", "https://example.com/quantum-chip")
CITING = make_id("article", "https://www.reuters.com/article/alibaba-surveillance-idINKBN28R0KP")


def topic(name: str) -> str:
    return make_id("topic", name.casefold())


AI, CV, NLP, ML = (
    topic("AI"),
    topic("Computer Vision"),
    topic("Natural Language Processing"),
    topic("machine learning"),
)
QC, SEMI = topic("Quantum Computing"), topic("Semiconductors")


@pytest.fixture(scope="module")
def models_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RunSummary]:
    """The corpus plus tests/fixtures/models (citing.md)."""
    warehouse = tmp_path_factory.mktemp("models") / "models.duckdb"
    settings = load_settings(
        env={}, sources=(CORPUS, MODELS_FIXTURE), warehouse=warehouse, workers=1
    )
    return settings, run_ingest(settings)


def test_every_model_is_built_staging_first(fixture_run: tuple[Settings, RunSummary]) -> None:
    _, summary = fixture_run
    assert sorted(summary.models_built) == [
        "article_enriched", "image_coverage", "provider_volume_by_month", "quality_by_provider",
        "related_citations", "stg_article", "stg_article_image", "stg_article_topic",
        "topic_pairs", "topic_trends",
    ]  # fmt: skip
    position = {name: i for i, name in enumerate(summary.models_built)}
    assert position["stg_article"] < position["stg_article_topic"] < position["topic_trends"]
    assert position["stg_article_image"] < position["image_coverage"]
    assert summary.models_failed == {} and summary.models_skipped == []


def test_quality_by_provider_exact_values(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from quality_by_provider")
    assert rows == [
        {
            "provider_id": EXAMPLE,
            "provider_name": "Example News Ltd",
            "domain": "example.com",
            "article_count": 3,
            "rated_article_count": 3,
            "mean_quality": 65.67,  # (70 + 72 + 55) / 3
            "median_quality": 70.0,
            "published_share": 1.0,
            "first_published_at": dt.datetime(2021, 2, 3, 2, 5, 6, tzinfo=UTC),
            "last_published_at": dt.datetime(2021, 5, 1, 11, 0, tzinfo=UTC),
        },
        {
            "provider_id": ALJAZEERA,
            "provider_name": "Al Jazeera English",
            "domain": "aljazeera.com",
            "article_count": 1,
            "rated_article_count": 1,
            "mean_quality": 61.0,
            "median_quality": 61.0,
            "published_share": 0.0,
            "first_published_at": dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
            "last_published_at": dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
        },
    ]


def test_provider_volume_by_month_fills_gaps(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from provider_volume_by_month")
    columns = ("provider_id", "provider_name", "month_start", "article_count", "published_count",
               "mean_quality", "share_of_month", "cumulative_article_count")  # fmt: skip
    assert rows == [dict(zip(columns, row, strict=True)) for row in [
        (ALJAZEERA, "Al Jazeera English", dt.date(2020, 12, 1), 1, 0, 61.0, 1.0, 1),
        # example.com: bom_crlf (Feb, 70), dashes (Mar, 72), dup_late (May, 55); April is a gap
        (EXAMPLE, "Example News Ltd", dt.date(2021, 2, 1), 1, 1, 70.0, 1.0, 1),
        (EXAMPLE, "Example News Ltd", dt.date(2021, 3, 1), 1, 1, 72.0, 1.0, 2),
        (EXAMPLE, "Example News Ltd", dt.date(2021, 4, 1), 0, 0, None, None, 2),
        (EXAMPLE, "Example News Ltd", dt.date(2021, 5, 1), 1, 1, 55.0, 1.0, 3),
    ]]  # fmt: skip


def test_topic_trends_per_iso_week(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from topic_trends")
    columns = ("topic_id", "topic_name", "iso_week", "week_start", "article_count",
               "rated_article_count", "mean_quality", "share_of_week")  # fmt: skip
    # 2020-12-17 is the Thursday of 2020-W51 (Monday 12-14); 2021-02-03 is in W05, 2021-03-01 is
    # the Monday of W09, 2021-05-01 the Saturday of W17 (Monday 04-26). One article per week.
    assert rows == [dict(zip(columns, row, strict=True)) for row in [
        (AI, "AI", "2020-W51", dt.date(2020, 12, 14), 1, 1, 61.0, 1.0),
        (CV, "Computer Vision", "2020-W51", dt.date(2020, 12, 14), 1, 1, 61.0, 1.0),
        (NLP, "Natural Language Processing", "2020-W51", dt.date(2020, 12, 14), 1, 1, 61.0, 1.0),
        (AI, "AI", "2021-W05", dt.date(2021, 2, 1), 1, 1, 70.0, 1.0),
        (AI, "AI", "2021-W09", dt.date(2021, 3, 1), 1, 1, 72.0, 1.0),
        (ML, "machine learning", "2021-W09", dt.date(2021, 3, 1), 1, 1, 72.0, 1.0),
        (QC, "Quantum Computing", "2021-W17", dt.date(2021, 4, 26), 1, 1, 55.0, 1.0),
        (SEMI, "Semiconductors", "2021-W17", dt.date(2021, 4, 26), 1, 1, 55.0, 1.0),
    ]]  # fmt: skip


def test_topic_pairs_counts_and_lift(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from topic_pairs")
    columns = ("topic_a_id", "topic_a", "topic_b_id", "topic_b", "pair_article_count",
               "topic_a_article_count", "topic_b_article_count", "pair_share", "lift")  # fmt: skip
    # 4 articles have topics; AI is on 3 of them, every other topic on 1.
    # lift = pair * 4 / (a * b): 1*4/(1*1) = 4.0 for the one-article topics, 1*4/(3*1) with AI
    # (exact: the model does not round; displays do).
    assert rows == [dict(zip(columns, row, strict=True)) for row in [
        (CV, "Computer Vision", NLP, "Natural Language Processing", 1, 1, 1, 0.25, 4.0),
        (QC, "Quantum Computing", SEMI, "Semiconductors", 1, 1, 1, 0.25, 4.0),
        (AI, "AI", CV, "Computer Vision", 1, 3, 1, 0.25, 4 / 3),
        (AI, "AI", NLP, "Natural Language Processing", 1, 3, 1, 0.25, 4 / 3),
        (AI, "AI", ML, "machine learning", 1, 3, 1, 0.25, 4 / 3),
    ]]  # fmt: skip


RELATED_COLUMNS = ("citing_provider_id", "citing_provider_name", "cited_provider_id",
                   "cited_provider_name", "is_self_citation", "citation_count",
                   "citing_article_count", "in_warehouse_count", "in_warehouse_share")  # fmt: skip


def test_related_citations_on_the_corpus(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from related_citations")
    # seed.txt lists one entry each from Reuters, The Guardian and Dhaka Tribune; none is loaded
    assert rows == [dict(zip(RELATED_COLUMNS, row, strict=True)) for row in [
        (ALJAZEERA, "Al Jazeera English", DHAKA, "Dhaka Tribune", False, 1, 1, 0, 0.0),
        (ALJAZEERA, "Al Jazeera English", REUTERS, "Reuters", False, 1, 1, 0, 0.0),
        (ALJAZEERA, "Al Jazeera English", GUARDIAN, "The Guardian", False, 1, 1, 0, 0.0),
    ]]  # fmt: skip


def test_image_coverage_exact_values(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from image_coverage")
    columns = ("provider_id", "provider_name", "article_count", "articles_with_images",
               "image_share", "image_count", "images_per_article", "cached_image_count",
               "cached_share", "median_width", "median_height")  # fmt: skip
    # example.com: bom_crlf has no image, dashes 640x480 and dup_late 300x300, neither cached
    # (dashes' second image has no url and was dropped). The related entries' images of
    # seed.txt are not the article's own and do not count.
    assert rows == [dict(zip(columns, row, strict=True)) for row in [
        (EXAMPLE, "Example News Ltd", 3, 2, 2 / 3, 2, 0.67, 0, 0.0, 470.0, 390.0),
        (ALJAZEERA, "Al Jazeera English", 1, 1, 1.0, 1, 1.0, 1, 1.0, 1200.0, 630.0),
    ]]  # fmt: skip


def test_article_enriched_one_wide_row_per_article(
    fixture_run: tuple[Settings, RunSummary],
) -> None:
    settings, _ = fixture_run
    rows = query(settings.warehouse, "select * from article_enriched")
    path = CORPUS.as_posix()
    base = {"provider_id": EXAMPLE, "provider_name": "Example News Ltd",
            "provider_domain": "example.com", "category": None, "type": None,
            "is_published": True, "related_count": 0, "related_in_warehouse_count": 0,
            "cited_by_count": 0}  # fmt: skip
    assert rows == [
        {
            "article_id": SEED,
            "title": "Alibaba facial recognition tech can identify Uighurs: Report",
            "published_at": dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
            "provider_id": ALJAZEERA,
            "provider_name": "Al Jazeera English",
            "provider_domain": "aljazeera.com",
            "category": "news",
            "type": "article",
            "quality": 61,
            "heat": -1,
            "is_published": False,
            "topic_count": 3,
            "topics": ["Natural Language Processing", "AI", "Computer Vision"],
            "image_count": 1,
            "cached_image_count": 1,
            "related_count": 3,
            "related_in_warehouse_count": 0,
            "cited_by_count": 0,
            "canonical_url": SEED_URL,
            "source_path": f"{path}/seed.txt",
        },
        {
            **base,
            "article_id": BOM,
            "title": "BOM and CRLF",
            "published_at": dt.datetime(2021, 2, 3, 2, 5, 6, tzinfo=UTC),
            "quality": 70,
            "heat": 5,
            "topic_count": 1,
            "topics": ["AI"],
            "image_count": 0,
            "cached_image_count": 0,
            "canonical_url": "https://example.com/bom-crlf",
            "source_path": f"{path}/bom_crlf.md",
        },
        {
            **base,
            "article_id": DASHES,
            "title": "Markets --- a dash-heavy title",
            "published_at": dt.datetime(2021, 3, 1, tzinfo=UTC),
            "quality": 72,
            "heat": 3,
            "topic_count": 2,
            "topics": ["AI", "machine learning"],
            "image_count": 1,
            "cached_image_count": 0,
            "canonical_url": "https://example.com/dashes",
            "source_path": f"{path}/dashes_in_value.txt",
        },
        {
            **base,
            "article_id": QUANTUM,
            "title": "Quantum chip announced (updated)",
            "published_at": dt.datetime(2021, 5, 1, 11, 0, tzinfo=UTC),
            "quality": 55,
            "heat": None,
            "topic_count": 2,
            "topics": ["Quantum Computing", "Semiconductors"],
            "image_count": 1,
            "cached_image_count": 0,
            "canonical_url": "https://example.com/quantum-chip",
            "source_path": f"{path}/dup_late.txt",
        },
    ]
    [kind] = query(settings.warehouse, "select table_type from information_schema.tables "
                   "where table_name = 'article_enriched'")  # fmt: skip
    assert kind == {"table_type": "BASE TABLE"}  # -- materialized: table


def test_models_read_live_articles_only(
    fixture_run: tuple[Settings, RunSummary], tmp_path: Path
) -> None:
    settings, _ = fixture_run
    warehouse = tmp_path / "retired.duckdb"
    shutil.copy(settings.warehouse, warehouse)
    conn = duckdb.connect(str(warehouse))
    try:
        # what the loader does when dup_late.txt is deleted: keep the article, retire it, drop
        # its child rows
        conn.execute("update article set deleted_at = now() where article_id = ?", [QUANTUM])
        for table in ("image", "article_topic", "related"):
            conn.execute(f"delete from {table} where article_id = ?", [QUANTUM])
        assert run_models(conn, SQL_DIR / "models").failed == {}
        example = conn.execute(
            "select article_count, mean_quality from quality_by_provider where domain = ?",
            ["example.com"],
        ).fetchall()
        assert example == [(2, 71.0)]  # (70 + 72) / 2
        enriched = conn.execute("select article_id from article_enriched").fetchall()
        assert enriched == [(SEED,), (BOM,), (DASHES,)]
        assert run_data_tests(conn, SQL_DIR).ok
    finally:
        conn.close()


# -- with citing.md: related entries that are loaded, shared weeks and months ------------------


def test_related_citations_count_loaded_related_articles(
    models_run: tuple[Settings, RunSummary],
) -> None:
    settings, _ = models_run
    rows = query(settings.warehouse, "select * from related_citations")
    # citing.md (Reuters) is the article seed.txt's first entry points at; it lists dashes and
    # bom-crlf (both loaded, example.com), an aljazeera.com URL that is not loaded, and an entry
    # without a provider.
    assert rows == [dict(zip(RELATED_COLUMNS, row, strict=True)) for row in [
        (REUTERS, "Reuters", EXAMPLE, "Example News Ltd", False, 2, 1, 2, 1.0),
        (ALJAZEERA, "Al Jazeera English", DHAKA, "Dhaka Tribune", False, 1, 1, 0, 0.0),
        (ALJAZEERA, "Al Jazeera English", REUTERS, "Reuters", False, 1, 1, 1, 1.0),
        (ALJAZEERA, "Al Jazeera English", GUARDIAN, "The Guardian", False, 1, 1, 0, 0.0),
        (REUTERS, "Reuters", ALJAZEERA, "Al Jazeera English", False, 1, 1, 0, 0.0),
        (REUTERS, "Reuters", None, None, None, 1, 1, 0, 0.0),
    ]]  # fmt: skip


def test_article_enriched_counts_citations_both_ways(
    models_run: tuple[Settings, RunSummary],
) -> None:
    settings, _ = models_run
    rows = query(
        settings.warehouse,
        "select article_id, topics, image_count, cached_image_count, related_count, "
        "related_in_warehouse_count, cited_by_count from article_enriched",
    )
    assert rows == [
        {"article_id": SEED, "topics": ["Natural Language Processing", "AI", "Computer Vision"],
         "image_count": 1, "cached_image_count": 1, "related_count": 3,
         "related_in_warehouse_count": 1, "cited_by_count": 0},
        {"article_id": BOM, "topics": ["AI"], "image_count": 0, "cached_image_count": 0,
         "related_count": 0, "related_in_warehouse_count": 0, "cited_by_count": 1},
        {"article_id": CITING, "topics": ["AI", "Computer Vision"], "image_count": 1,
         "cached_image_count": 1, "related_count": 4, "related_in_warehouse_count": 2,
         "cited_by_count": 1},
        {"article_id": DASHES, "topics": ["AI", "machine learning"], "image_count": 1,
         "cached_image_count": 0, "related_count": 0, "related_in_warehouse_count": 0,
         "cited_by_count": 1},
        {"article_id": QUANTUM, "topics": ["Quantum Computing", "Semiconductors"],
         "image_count": 1, "cached_image_count": 0, "related_count": 0,
         "related_in_warehouse_count": 0, "cited_by_count": 0},
    ]  # fmt: skip


def test_shared_week_and_month_aggregate(models_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = models_run
    # 2021-W05: bom_crlf (AI, 70) and citing.md (AI + Computer Vision, 80)
    week = query(settings.warehouse, "select topic_name, article_count, mean_quality, "
                 "share_of_week from topic_trends where iso_week = '2021-W05'")  # fmt: skip
    assert week == [
        {"topic_name": "AI", "article_count": 2, "mean_quality": 75.0, "share_of_week": 1.0},
        {"topic_name": "Computer Vision", "article_count": 1, "mean_quality": 80.0,
         "share_of_week": 0.5},
    ]  # fmt: skip
    month = query(settings.warehouse, "select provider_name, article_count, share_of_month, "
                  "cumulative_article_count from provider_volume_by_month "
                  "where month_start = '2021-02-01'")  # fmt: skip
    assert month == [
        {"provider_name": "Example News Ltd", "article_count": 1, "share_of_month": 0.5,
         "cumulative_article_count": 1},
        {"provider_name": "Reuters", "article_count": 1, "share_of_month": 0.5,
         "cumulative_article_count": 1},
    ]  # fmt: skip
    # 5 articles with topics; AI on 4, Computer Vision on 2, both on 2: lift 2*5/(4*2)
    [pair] = query(settings.warehouse, "select pair_article_count, pair_share, lift from "
                   "topic_pairs where topic_a = 'AI' and topic_b = 'Computer Vision'")  # fmt: skip
    assert pair == {"pair_article_count": 2, "pair_share": 0.4, "lift": 1.25}


# -- the runner -------------------------------------------------------------------------------


def test_referenced_relations_use_the_sql_parser(memdb: duckdb.DuckDBPyConnection) -> None:
    sql = """
        with recent as (select * from article where published_at > now() - interval 1 day)
        select * from recent join provider using (provider_id)
        where article_id in (select article_id from etl.warning)
    """
    assert referenced_relations(memdb, sql) == {"article", "provider", "etl.warning"}


def test_parse_header_reads_grain_and_description() -> None:
    sql = (
        "-- topic_pairs: one row per pair (a, b)\n-- materialized: table\n"
        "-- Which topics go together.\n-- Second line.\n\n-- not part of it\nselect 1"
    )
    assert parse_header("topic_pairs", sql) == (
        "one row per pair (a, b)",
        "Which topics go together. Second line.",
    )
    assert parse_header("other", "select 1") == ("", "")


def test_shipped_models_follow_the_sql_style() -> None:
    """Header with the grain, a CTE pipeline ending in final (sqlfluff checks the rest)."""
    for path in sorted((SQL_DIR / "models").rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"-- {path.stem}: one row per "), path
        assert "\nfinal as (\n" in text and "\nselect * from final\n" in text, path


def _write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(sql)


def test_models_run_in_dependency_order_whatever_the_file_names(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models / "marts", "a_top", "select * from m_middle where n > 0")
    _write(models / "staging", "m_middle", "select count(*) as n from z_base")
    _write(models, "z_base", "-- materialized: table\nselect * from article")
    result = run_models(memdb, models)
    assert result.built == ["z_base", "m_middle", "a_top"]
    kinds = dict(memdb.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'main'"
        " and table_name in ('z_base', 'm_middle', 'a_top')"
    ).fetchall())  # fmt: skip
    assert kinds == {"z_base": "BASE TABLE", "m_middle": "VIEW", "a_top": "VIEW"}


def test_unknown_reference_names_the_file(tmp_path: Path, memdb: duckdb.DuckDBPyConnection) -> None:
    _write(tmp_path / "models", "orphan", "select * from gone_upstream")
    with pytest.raises(
        StageFailed, match=r"orphan\.sql: model 'orphan' reads unknown relation\(s\): gone_upstream"
    ):
        order_models(memdb, discover_models(memdb, tmp_path / "models"))


def test_deleting_an_upstream_fails_naming_both_files(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models / "staging", "upstream", "select article_id from article")
    _write(models / "marts", "downstream", "select count(*) as n from upstream")
    assert run_models(memdb, models).built == ["upstream", "downstream"]
    (models / "staging" / "upstream.sql").unlink()
    # The old view is still in the warehouse: reading it would silently use stale SQL.
    with pytest.raises(StageFailed) as failed:
        run_models(memdb, models)
    assert str(failed.value) == (
        f"models failed: {models / 'marts' / 'downstream.sql'}: model 'downstream' reads "
        f"'upstream' ({models / 'staging' / 'upstream.sql'}), whose model file no longer exists; "
        "restore that file or change this model"
    )


def test_a_deleted_model_nothing_reads_is_dropped(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models, "keep", "select 1 as x")
    _write(models, "retired", "select 2 as x")
    run_models(memdb, models)
    (models / "retired.sql").unlink()
    result = run_models(memdb, models)
    assert (result.built, result.dropped) == (["keep"], ["retired"])
    names = memdb.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'main' and table_name in ('keep', 'retired')"
    )
    assert names.fetchall() == [("keep",)]
    assert memdb.execute("select name from etl.model").fetchall() == [("keep",)]


def test_cycle_names_the_files(tmp_path: Path, memdb: duckdb.DuckDBPyConnection) -> None:
    _write(tmp_path / "models", "first", "select * from second")
    _write(tmp_path / "models", "second", "select * from first")
    with pytest.raises(StageFailed, match=r"models form a cycle: .*(first|second)\.sql -> .*\.sql"):
        order_models(memdb, discover_models(memdb, tmp_path / "models"))


def test_failing_model_skips_only_its_dependents(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models, "broken", "select no_such_column from article")
    _write(models, "downstream", "select * from broken")
    _write(models, "fine", "select count(*) as n from article")
    result = run_models(memdb, models)
    assert result.built == ["fine"]
    assert result.skipped == ["downstream"]
    assert list(result.failed) == ["broken"]
    assert "broken.sql" in result.failed["broken"]
    assert "no_such_column" in result.failed["broken"]


def test_model_can_switch_between_view_and_table(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models, "flip", "select 1 as x")
    assert run_models(memdb, models).built == ["flip"]
    _write(models, "flip", "-- materialized: table\nselect 2 as x")
    assert run_models(memdb, models).built == ["flip"]
    assert memdb.execute("select x from flip").fetchall() == [(2,)]


@pytest.fixture
def chain(tmp_path: Path, memdb: duckdb.DuckDBPyConnection) -> dict:
    """base <- middle <- top, and a separate lone model."""
    models = tmp_path / "models"
    _write(models, "base", "select article_id from article")
    _write(models, "middle", "select * from base")
    _write(models, "top", "select count(*) as n from middle")
    _write(models, "lone", "select 1 as x")
    found = discover_models(memdb, models)
    return {"models": found, "order": order_models(memdb, found), "dir": models}


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (["middle"], ["middle"]),
        (["+middle"], ["base", "middle"]),
        (["middle+"], ["middle", "top"]),
        (["+middle+"], ["base", "middle", "top"]),
        (["+top"], ["base", "middle", "top"]),
        (["base+", "lone"], ["base", "middle", "top", "lone"]),
        (["TOP"], ["top"]),
    ],
)
def test_select_follows_dbt_graph_operators(
    chain: dict, selectors: list[str], expected: list[str]
) -> None:
    chosen = select_models(chain["models"], chain["order"], selectors)
    assert sorted(chosen) == sorted(expected)
    assert chosen == [name for name in chain["order"] if name in expected]  # run order kept


def test_select_unknown_model_is_a_usage_error(chain: dict) -> None:
    with pytest.raises(ValueError) as failed:
        select_models(chain["models"], chain["order"], ["+nope"])
    assert str(failed.value) == (
        "--select +nope: no model named 'nope' (models: base, lone, middle, top)"
    )


def test_selected_run_builds_only_the_selection(
    chain: dict, memdb: duckdb.DuckDBPyConnection
) -> None:
    assert run_models(memdb, chain["dir"], select=["top"]).failed  # middle does not exist yet
    result = run_models(memdb, chain["dir"], select=["+top"])
    assert (result.built, result.failed) == (["base", "middle", "top"], {})


def test_models_command_rebuilds_a_selection(
    fixture_run: tuple[Settings, RunSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = fixture_run
    warehouse = tmp_path / "copy.duckdb"
    shutil.copy(settings.warehouse, warehouse)
    conn = duckdb.connect(str(warehouse))
    conn.execute("drop table topic_pairs")
    conn.close()
    assert cli.main(["models", "--warehouse", str(warehouse), "--select", "topic_pairs"]) == 0
    out = capsys.readouterr().out
    assert "built: topic_pairs\n" in out
    assert "models: 1 built, 0 failed, 0 skipped" in out
    assert query(warehouse, "select count(*) as n from topic_pairs") == [{"n": 5}]
    assert cli.main(["models", "--warehouse", str(warehouse), "--select", "+topic_trends"]) == 0
    assert "built: stg_article, stg_article_topic, topic_trends\n" in capsys.readouterr().out
    assert cli.main(["models", "--warehouse", str(warehouse), "--select", "nope"]) == 2
    assert "no model named 'nope'" in capsys.readouterr().err


def test_models_command_needs_a_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["models", "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    assert "warehouse not found" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()
