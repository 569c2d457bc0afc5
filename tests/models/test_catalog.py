"""The catalog: complete for the shipped SQL, exact entries, and problems when it goes stale."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest

from flows import __version__
from flows.cli import main as cli
from flows.ingest import run_ingest
from flows.models import lineage
from flows.models.catalog import (
    Catalog,
    Entry,
    compile_catalog,
    lineage_layout,
    lineage_svg,
    manifest,
    render_html,
)
from flows.settings import DEFAULT_SOURCE, SQL_DIR, load_settings


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
    assert (
        "<article class='rel' id='related_citations' data-group='marts' "
        "data-text='related_citations table (model) one row per citing" in page
    )
    assert "<td><code>in_warehouse_share</code></td><td class='type'>DOUBLE</td>" in page
    manifest = json.loads((tmp_path / "catalog" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["manifest_version"], manifest["results"]) == (1, None)


# -- manifest.json, the page, the lineage ------------------------------------------------------


def test_manifest_describes_relations_columns_dependencies_and_tests(catalog: Catalog) -> None:
    found = manifest(catalog)
    assert (found["manifest_version"], found["generator"]) == (1, f"newsflow {__version__}")
    assert (found["results"], found["problems"]) == (None, [])
    assert [r["name"] for r in found["relations"]] == [e.name for e in catalog.entries]
    [pairs] = [r for r in found["relations"] if r["name"] == "topic_pairs"]
    assert {k: v for k, v in pairs.items() if k not in ("columns", "description", "data_tests")} == {
        "name": "topic_pairs", "schema": "main", "group": "marts", "kind": "table (model)",
        "materialized": "table", "path": "sql/models/marts/topic_pairs.sql",
        "grain": "one row per pair of topics sharing an article (topic_a_id, topic_b_id)",
        "depends_on": ["stg_article_topic"], "referenced_by": [],
    }  # fmt: skip
    assert pairs["columns"][0] == {
        "name": "topic_a_id", "type": "VARCHAR", "tests": ["not_null"],
        "description": entry(catalog, "topic_pairs").columns[0].description,
    }  # fmt: skip
    assert [(c["name"], c["type"]) for c in pairs["columns"]][-2:] == [
        ("pair_share", "DOUBLE"), ("lift", "DOUBLE"),
    ]  # fmt: skip
    [run] = [r for r in found["relations"] if r["name"] == "etl.run"]
    assert (run["schema"], run["group"], run["path"]) == ("etl", "etl", "sql/schema/02_etl.sql")
    edges = {(d["from"], d["to"]) for d in found["dependencies"]}
    assert {("article", "stg_article"), ("stg_article_topic", "topic_pairs")} <= edges
    assert {e for e in edges if e[1] == "stg_article_topic"} == {
        ("article_topic", "stg_article_topic"), ("stg_article", "stg_article_topic"),
        ("topic", "stg_article_topic"),
    }  # fmt: skip
    assert len(edges) == len(found["dependencies"]) == sum(len(e.upstream) for e in catalog.entries)
    assert len(found["data_tests"]) == catalog.test_count
    [unique] = [t for t in found["data_tests"] if t["name"] == "unique_provider_provider_id"]
    assert unique == {
        "name": "unique_provider_provider_id", "kind": "generic", "relation": "provider",
        "columns": ["provider_id"], "check": "unique", "rule": "provider.provider_id is unique",
        "severity": "error", "path": "sql/warehouse.yml", "reads": ["provider"],
        "last_result": None,
    }  # fmt: skip
    [singular] = [t for t in found["data_tests"] if t["name"] == "provider_has_name_or_domain"]
    assert (singular["kind"], singular["relation"], singular["check"], singular["path"]) == (
        "singular", None, None, "sql/tests/provider_has_name_or_domain.sql",
    )  # fmt: skip


def test_docs_with_the_sample_warehouse_records_the_last_results(
    catalog: Catalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "seed.duckdb"
    summary = run_ingest(
        load_settings(env={}, sources=(DEFAULT_SOURCE,), warehouse=warehouse, workers=1)
    )
    out = tmp_path / "catalog"
    assert cli.main(["docs", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    capsys.readouterr()
    found = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    results = found["results"]
    assert (results["run_id"], results["warehouse"]) == (summary.run_id, str(warehouse))
    outcomes = {t["outcome"] for t in summary.data_tests}
    assert sum(results["summary"].values()) == catalog.test_count
    assert results["summary"]["fail"] == results["summary"]["error"] == 0
    assert outcomes <= {"pass", "warn"}
    by_name = {t["name"]: t["last_result"] for t in found["data_tests"]}
    assert by_name["unique_provider_provider_id"] == {
        "outcome": "pass",
        "failures": 0,
        "error": None,
    }
    assert by_name == {
        t["name"]: {"outcome": t["outcome"], "failures": t["failures"], "error": t["error"]}
        for t in summary.data_tests
    }
    page = (out / "catalog.html").read_text(encoding="utf-8")
    assert "title='pass'>unique_provider_provider_id: pass</span>" in page
    warn = by_name["not_null_article_title"]["outcome"]  # a warn-severity test, labelled so
    assert f">not_null_article_title (warn): {warn}</span>" in page
    [article] = [r for r in found["relations"] if r["name"] == "article"]
    assert "not_null_article_title" in article["data_tests"]
    assert set(article["data_tests"]) <= set(by_name)


def test_page_is_self_contained(catalog: Catalog) -> None:
    """No fetch: every link is an anchor in the page, no src, no URL but the SVG namespace."""
    page = render_html(catalog)
    assert re.findall(r"https?://[^\s'\"<>]*", page) == ["http://www.w3.org/2000/svg"]
    assert re.findall(r"\bsrc\s*=", page) == []
    links = re.findall(r"href=['\"]([^'\"]*)['\"]", page)
    assert links and all(link.startswith("#") for link in links)
    ids = set(re.findall(r"\bid='([^']*)'", page))
    assert {link[1:] for link in links} <= ids
    assert "<style>" in page and "<script>" in page and "<link" not in page


def test_lineage_svg_has_every_relation_and_every_edge(catalog: Catalog) -> None:
    svg = ElementTree.fromstring(lineage_svg(catalog))
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [a.get("data-name") for a in svg.iter(f"{ns}a")]
    drawn = sorted(e.name for e in catalog.entries if e.group != "etl")
    assert sorted(nodes) == drawn
    assert [t.text for t in svg.iter(f"{ns}text")] != []
    assert sorted(t.text for t in svg.iter(f"{ns}text")) == drawn
    edges = sorted((p.get("data-from"), p.get("data-to")) for p in svg.iter(f"{ns}path")
                   if p.get("class") == "edge")  # fmt: skip
    assert edges == sorted((u, e.name) for e in catalog.entries for u in e.upstream)


def test_lineage_layers_run_tables_then_staging_then_marts(catalog: Catalog) -> None:
    graph = lineage_layout(catalog)
    layer = {name: node.layer for name, node in graph.nodes.items()}
    assert {name: layer[name] for name in ("article", "stg_article", "stg_article_topic",
                                           "topic_pairs", "quality_by_provider")} == {
        "article": 0, "stg_article": 1, "stg_article_topic": 2, "topic_pairs": 3,
        "quality_by_provider": 3,
    }  # fmt: skip
    groups = {e.name: e.group for e in catalog.entries}
    assert {groups[n] for n, lv in layer.items() if lv == 0} == {"tables"}
    assert {groups[n] for n, lv in layer.items() if lv == 3} == {"marts"}
    boxes = sorted(graph.nodes.values(), key=lambda n: (n.layer, n.y))
    for a, b in itertools.pairwise(boxes):  # boxes of one layer never overlap
        if a.layer == b.layer:
            assert b.y >= a.y + lineage.NODE_HEIGHT
        else:
            assert b.x >= a.x + a.width
    assert lineage_layout(catalog) == graph  # the same picture every time


def test_layers_of_a_small_graph() -> None:
    upstream = {"b": ["a"], "c": ["a", "b"], "d": ["c"], "e": []}
    assert lineage.layers(list("abcde"), upstream) == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}
    assert lineage.layers(list("abcde"), upstream, {"e": 2, "b": 2}) == {
        "a": 0, "b": 2, "c": 3, "d": 4, "e": 2,
    }  # fmt: skip
