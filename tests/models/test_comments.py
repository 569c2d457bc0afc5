"""COMMENT ON from the YAML declarations: every table, model and column describes itself."""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.db import ensure_schema
from flows.models.build import run_models
from flows.models.comments import comment_relations, relation_comment
from flows.models.datatests import load_declarations
from flows.settings import SQL_DIR
from tests.conftest import query


def test_every_column_of_every_table_and_model_has_a_comment(fixture_run) -> None:
    settings, _ = fixture_run
    columns = query(
        settings.warehouse,
        "select schema_name || '.' || table_name as relation, column_name, comment "
        "from duckdb_columns() where database_name = current_database() and not internal",
    )
    relations = {row["relation"] for row in columns}
    assert {
        "main.article",
        "main.image",
        "main.related",
        "main.article_topic",
        "main.topic_trends",
        "main.stg_article",
        "etl.run",
        "etl.file",
        "etl.rejection",
        "search.document",
    } <= relations
    assert {r.split(".")[0] for r in relations} == {"main", "etl", "search"}
    assert [r for r in columns if not (r["comment"] or "").strip()] == []


def test_every_table_and_view_has_its_declared_comment(fixture_run) -> None:
    settings, _ = fixture_run
    declared = load_declarations(SQL_DIR)
    rows = query(
        settings.warehouse,
        "select table_name as name, comment from duckdb_tables() "
        "where database_name = current_database() and schema_name = 'main' "
        "union all select view_name, comment from duckdb_views() "
        "where database_name = current_database() and schema_name = 'main' and not internal",
    )
    assert rows
    for row in rows:
        assert row["comment"] == relation_comment(declared[row["name"]]), row["name"]
    article = next(r["comment"] for r in rows if r["name"] == "article")
    assert article.endswith("Grain: one row per canonical URL (article_id).")


def test_column_comment_is_the_yaml_description(fixture_run) -> None:
    settings, _ = fixture_run
    rows = query(
        settings.warehouse,
        "select comment from duckdb_columns() where database_name = current_database() "
        "and table_name = 'article' and column_name = 'title'",
    )
    assert rows == [{"comment": "Headline."}]


def test_a_rebuilt_model_gets_its_comments_again(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        ensure_schema(conn, SQL_DIR)
        run_models(conn, SQL_DIR / "models")
        run_models(conn, SQL_DIR / "models")  # create or replace drops the comments
        (missing,) = conn.execute(
            "select count(*) from duckdb_columns() where schema_name = 'main' "
            "and database_name = current_database() and not internal and comment is null"
        ).fetchone()
        assert missing == 0
        # idempotent: writing them once more changes nothing
        before = conn.execute("select comment from duckdb_columns() order by all").fetchall()
        comment_relations(conn, SQL_DIR)
        assert (
            conn.execute("select comment from duckdb_columns() order by all").fetchall() == before
        )
    finally:
        conn.close()
