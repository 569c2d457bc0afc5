"""The warehouse describes itself: ``COMMENT ON`` every table, model and column from sql/**/*.yml.

Descriptions are declared once (``sql/warehouse.yml`` for tables, the SQL header and
``sql/models/*/_*.yml`` for models) and written into the database, so any client reads them from
``duckdb_tables()``, ``duckdb_views()`` and ``duckdb_columns()`` (``comment``). A model is rebuilt
by every run (``create or replace`` drops its comments), so the run writes them all again, in one
transaction, after the models.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.models.datatests import Relation, load_declarations


def relation_comment(relation: Relation) -> str:
    """A relation's comment: its description, then its grain."""
    parts = [relation.description.strip()]
    if relation.grain:
        parts.append(f"Grain: {relation.grain.strip()}.")
    return " ".join(p for p in parts if p)


def comment_relations(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> int:
    """Write the declared description of every existing relation and column as its comment.

    Relations and columns that exist but are not declared keep no comment (the catalog lists them
    as problems); declared ones that do not exist are skipped. Returns the comments written.
    """
    declared = load_declarations(sql_dir)
    existing = {
        (schema if schema == "etl" else None, name): kind
        for schema, name, kind in conn.execute(
            "select schema_name, table_name, 'table' from duckdb_tables() "
            "where database_name = current_database() and schema_name in ('main', 'etl') "
            "union all select schema_name, view_name, 'view' from duckdb_views() "
            "where database_name = current_database() and schema_name in ('main', 'etl') "
            "and not internal"
        ).fetchall()
    }
    columns: dict[str, set[str]] = {}
    for schema, table, column in conn.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where database_name = current_database() and schema_name in ('main', 'etl')"
    ).fetchall():
        columns.setdefault(table if schema == "main" else f"etl.{table}", set()).add(column)
    statements: list[tuple[str, str]] = []
    for name, relation in declared.items():
        schema, _, bare = name.rpartition(".")
        kind = existing.get((schema or None, bare))
        if kind is None:
            continue
        target = _qualified(name)
        comment = relation_comment(relation)
        if comment:
            statements.append((f"comment on {kind} {target}", comment))
        for column, text in relation.columns.items():
            if text and column in columns.get(name, set()):
                statements.append((f"comment on column {target}.{_q(column)}", text))
    conn.execute("begin transaction")
    try:
        for target, text in statements:
            # COMMENT ON takes a literal only, not a parameter
            conn.execute(f"{target} is {_literal(text)}")
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return len(statements)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return ".".join(_q(part) for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + " ".join(text.split()).replace("'", "''") + "'"
