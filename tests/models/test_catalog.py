"""The catalog: complete for the shipped SQL, exact entries, and problems when it goes stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main as cli
from flows.models.catalog import Catalog, Entry, compile_catalog
from flows.settings import SQL_DIR


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return compile_catalog(SQL_DIR)


def entry(catalog: Catalog, name: str) -> Entry:
    [found] = [e for e in catalog.entries if e.name == name]
    return found


def test_shipped_catalog_has_no_problems(catalog: Catalog) -> None:
    """Every table and model is declared, described, has a grain, and every column is documented
    and exists."""
    assert catalog.problems == []


def test_catalog_lists_every_table_then_every_model(catalog: Catalog) -> None:
    groups = [e.group for e in catalog.entries]
    assert groups == sorted(groups, key=["tables", "etl", "marts", "staging"].index)
    names = {group: [e.name for e in catalog.entries if e.group == group] for group in groups}
    assert names["tables"] == ["article", "article_topic", "image", "provider", "related", "topic"]
    assert names["marts"] == [
        "article_enriched", "image_coverage", "provider_volume_by_month", "quality_by_provider",
        "related_citations", "topic_pairs", "topic_trends",
    ]  # fmt: skip
    assert names["staging"] == ["stg_article", "stg_article_image", "stg_article_topic"]
    # the bookkeeping tables evolve with the loader; each must be declared (no problems above)
    assert names["etl"] == sorted(names["etl"])
    assert {"etl.model", "etl.rejection", "etl.run", "etl.warning"} <= set(names["etl"])


def test_model_entry_has_grain_columns_types_and_lineage(catalog: Catalog) -> None:
    found = entry(catalog, "topic_pairs")
    assert (found.kind, found.path, found.grain) == (
        "table (model)",
        "sql/models/marts/topic_pairs.sql",
        "one row per pair of topics sharing an article (topic_a_id, topic_b_id)",
    )
    assert found.description.startswith("Which topics are written about together, how often,")
    assert (found.upstream, found.downstream) == (["stg_article_topic"], [])
    assert [(c.name, c.type, c.tests) for c in found.columns] == [
        ("topic_a_id", "VARCHAR", ["not_null"]),
        ("topic_a", "VARCHAR", []),
        ("topic_b_id", "VARCHAR", ["not_null"]),
        ("topic_b", "VARCHAR", []),
        ("pair_article_count", "BIGINT", ["accepted_range"]),
        ("topic_a_article_count", "BIGINT", []),
        ("topic_b_article_count", "BIGINT", []),
        ("pair_share", "DOUBLE", ["accepted_range"]),
        ("lift", "DOUBLE", ["accepted_range"]),
    ]
    assert found.columns[-1].description.startswith("pair_share / (share with a * share with b)")
    assert found.tests[0] == "unique_topic_pairs_topic_a_id_topic_b_id"
    enriched = entry(catalog, "article_enriched")
    assert enriched.kind == "table (model)"
    assert enriched.upstream == ["provider", "related", "stg_article", "stg_article_image",
                                 "stg_article_topic"]  # fmt: skip
    topics = [c for c in enriched.columns if c.name == "topics"]
    assert [(c.type, c.description) for c in topics] == [
        ("VARCHAR[]", "Topic names in the article's order (empty list when none).")
    ]


def test_table_entry_shows_downstream_models_and_tests(catalog: Catalog) -> None:
    found = entry(catalog, "provider")
    assert (found.kind, found.path, found.grain, found.upstream) == (
        "table", "sql/schema/01_warehouse.sql", "one row per canonical domain (provider_id)", [],
    )  # fmt: skip
    assert found.downstream == ["article_enriched", "image_coverage", "provider_volume_by_month",
                                "quality_by_provider", "related_citations"]  # fmt: skip
    assert [(c.name, c.tests) for c in found.columns] == [
        ("provider_id", ["unique", "not_null"]), ("domain", ["unique"]), ("name", []),
        ("name_observed_at", []),
    ]  # fmt: skip
    assert "provider_has_name_or_domain" in found.tests
    article = entry(catalog, "article")
    by_name = {c.name: c.tests for c in article.columns}
    assert by_name["provider_id"] == ["relationships → provider.provider_id"]
    assert by_name["quality"] == ["accepted_range (warn)"]


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    return sql


def test_missing_description_and_vanished_column_are_problems(sql_copy: Path) -> None:
    model = sql_copy / "models" / "marts" / "topic_pairs.sql"
    # a header without a description, and lift renamed
    model.write_text(
        "-- topic_pairs: one row per pair of topics (topic_a_id, topic_b_id)\n\n"
        "select 'a' as topic_a_id, 'A' as topic_a, 'b' as topic_b_id, 'B' as topic_b, "
        "1 as pair_article_count, 1 as topic_a_article_count, 1 as topic_b_article_count, "
        "0.5 as pair_share, 2.0 as pair_lift",
        encoding="utf-8",
    )
    problems = compile_catalog(sql_copy).problems
    yml = sql_copy / "models" / "marts" / "_marts.yml"
    assert f"{model}: model topic_pairs has no description in its header" in problems
    assert f"{yml}: topic_pairs.lift is declared but no longer exists" in problems
    assert f"{yml}: topic_pairs.pair_lift has no description" in problems


def test_new_model_and_table_must_be_declared(sql_copy: Path) -> None:
    (sql_copy / "models" / "marts" / "fresh.sql").write_text(
        "-- fresh: one row per article (article_id)\n-- New.\nselect article_id from article"
    )
    (sql_copy / "schema" / "09_extra.sql").write_text("create table if not exists extra (x int);")
    problems = compile_catalog(sql_copy).problems
    assert problems == [
        "extra: not declared in any sql/**/*.yml",
        f"{sql_copy / 'models' / 'marts' / 'fresh.sql'}: fresh.article_id has no description",
    ]


def test_docs_command_writes_markdown_and_html(
    catalog: Catalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["docs", "--out", str(tmp_path / "catalog")]) == 0
    out = capsys.readouterr().out
    tables = sum(1 for e in catalog.entries if e.group in ("tables", "etl"))
    assert f"{tables + 10} tables and models, {catalog.test_count} data tests" in out
    markdown = (tmp_path / "catalog" / "catalog.md").read_text(encoding="utf-8")
    assert markdown.startswith(f"# newsflow catalog\n\n{tables} tables, 10 models, ")
    assert (
        "### related_citations\n\n*table (model)* · `sql/models/marts/related_citations.sql` · grain: one "
        "row per citing and cited provider (citing_provider_id, cited_provider_id)\n"
    ) in markdown
    assert (
        "**Upstream:** [`provider`](#provider), [`related`](#related), [`stg_article`](#stg_article)"
        in markdown
    )
    assert (
        "| `in_warehouse_share` | DOUBLE | in_warehouse_count / citation_count. | accepted_range |"
        in markdown
    )
    page = (tmp_path / "catalog" / "catalog.html").read_text(encoding="utf-8")
    assert "<h3 id='related_citations'>related_citations</h3>" in page
    assert "<td><code>in_warehouse_share</code></td><td>DOUBLE</td>" in page
