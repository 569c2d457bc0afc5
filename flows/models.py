"""sql/models -> views/tables in dependency order; sql/tests -> failing rows."""

from __future__ import annotations

import graphlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from flows.records import StageFailed

STAGE = "models"
_MATERIALIZED = re.compile(r"^\s*--\s*materialized:\s*(view|table)\s*$", re.MULTILINE | re.I)


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sql: str
    materialized: str
    depends_on: frozenset[str]


@dataclass
class ModelResult:
    built: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def referenced_relations(conn: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    """Names of the tables/views a query reads, from DuckDB's own parser (CTE names excluded)."""
    row = conn.execute("select json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {}
    if tree.get("error"):
        raise ValueError(tree.get("error_message", "could not parse SQL"))
    tables: set[str] = set()
    ctes: set[str] = set()
    for node in _walk(tree):
        if node.get("type") == "BASE_TABLE" and node.get("table_name"):
            schema = node.get("schema_name") or ""
            name = node["table_name"].lower()
            tables.add(f"{schema.lower()}.{name}" if schema and schema != "main" else name)
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes.update(entry["key"].lower() for entry in cte_map.get("map", []))
    return tables - ctes


def discover_models(conn: duckdb.DuckDBPyConnection, models_dir: Path) -> dict[str, Model]:
    """Every ``*.sql`` under ``models_dir`` (subfolders allowed); the file stem is the name."""
    models: dict[str, Model] = {}
    for path in sorted(models_dir.rglob("*.sql")):
        name = path.stem.lower()
        if name in models:
            raise StageFailed(
                STAGE, f"two models are named {name!r}: {models[name].path} and {path}"
            )
        sql = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
        match = _MATERIALIZED.search(sql)
        try:
            refs = referenced_relations(conn, sql)
        except ValueError as exc:
            raise StageFailed(STAGE, f"{path}: {exc}") from exc
        models[name] = Model(
            name, path, sql, match.group(1).lower() if match else "view", frozenset(refs)
        )
    return models


def _existing_relations(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {
        name.lower() if schema == "main" else f"{schema}.{name}".lower() for schema, name in rows
    }


def order_models(conn: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> list[str]:
    """Dependency order; unknown references and cycles fail with the files named."""
    known = _existing_relations(conn) - set(models)
    for model in models.values():
        unknown = sorted(model.depends_on - set(models) - known)
        if unknown:
            raise StageFailed(
                STAGE, f"{model.path}: model {model.name!r} reads unknown relation(s): "
                + ", ".join(unknown),
            )  # fmt: skip
    graph = {m.name: set(m.depends_on & set(models)) for m in models.values()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        files = " -> ".join(str(models[name].path) for name in cycle)
        raise StageFailed(STAGE, f"models form a cycle: {files}") from exc


def _drop_if_other_kind(conn: duckdb.DuckDBPyConnection, name: str, kind: str) -> None:
    row = conn.execute(
        "select table_type from information_schema.tables "
        "where table_schema = 'main' and table_name = ?",
        [name],
    ).fetchone()
    if row is None:
        return
    existing = "view" if row[0] == "VIEW" else "table"
    if existing != kind:
        conn.execute(f"drop {existing} {name}")


def run_models(conn: duckdb.DuckDBPyConnection, models_dir: Path) -> ModelResult:
    """Create every model as a view (or table) in dependency order.

    A failing model is reported with its file and DuckDB's error; only its dependents are skipped.
    """
    started = time.perf_counter()
    models = discover_models(conn, models_dir)
    order = order_models(conn, models)
    result = ModelResult()
    broken: set[str] = set()
    for name in order:
        model = models[name]
        if model.depends_on & broken:
            result.skipped.append(name)
            broken.add(name)
            continue
        kind = model.materialized
        try:
            _drop_if_other_kind(conn, name, kind)
            conn.execute(f"create or replace {kind} {name} as\n{model.sql}")
            result.built.append(name)
        except duckdb.Error as exc:
            result.failed[name] = f"{model.path}: {exc}"
            broken.add(name)
    result.seconds = time.perf_counter() - started
    return result
