"""sql/models -> views/tables in dependency order, with dbt-style selection and bookkeeping of
what was built (``etl.model``), so a deleted model file is noticed."""

from __future__ import annotations

import datetime as dt
import graphlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from flows.records import StageFailed

STAGE = "models"
_MATERIALIZED = re.compile(r"^\s*--\s*materialized:\s*(view|table)\s*$", re.MULTILINE | re.I)
_OPTION = re.compile(r"^(materialized|severity):\s*\S+$", re.I)


def parse_header(name: str, sql: str) -> tuple[str, str]:
    """(summary, description) from the comment lines a SQL file opens with.

    The first line reads ``-- name: summary`` (a model's grain, a data test's rule); the comment
    lines after it, up to the first blank or SQL line, are the description. Option lines such as
    ``-- materialized: table`` are skipped.
    """
    summary, description = "", []
    for number, line in enumerate(sql.splitlines()):
        text = line.strip()
        if not text.startswith("--"):
            break
        text = text[2:].strip()
        if _OPTION.match(text):
            continue
        if number == 0 and text.lower().startswith(f"{name.lower()}:"):
            summary = text[len(name) + 1 :].strip()
        elif text:
            description.append(text)
    return summary, " ".join(description)


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sql: str
    materialized: str
    depends_on: frozenset[str]
    grain: str = ""
    description: str = ""


@dataclass
class ModelResult:
    built: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
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
        grain, description = parse_header(name, sql)
        materialized = match.group(1).lower() if match else "view"
        models[name] = Model(name, path, sql, materialized, frozenset(refs), grain, description)
    return models


def _existing_relations(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {
        name.lower() if schema == "main" else f"{schema}.{name}".lower() for schema, name in rows
    }


REGISTRY = "etl.model"


def _registry(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Models built before, by name -> file, as recorded in ``etl.model`` (if it exists)."""
    if REGISTRY not in _existing_relations(conn):
        return {}
    return dict(conn.execute(f"select name, path from {REGISTRY}").fetchall())


def order_models(conn: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> list[str]:
    """Dependency order; unknown references and cycles fail with the files named.

    A relation left behind by a model whose file is gone is not a valid upstream: reading it
    would silently use a stale view, so it fails naming both files.
    """
    stale = {n: p for n, p in _registry(conn).items() if n not in models}
    known = _existing_relations(conn) - set(models) - set(stale)
    for model in models.values():
        gone = sorted(model.depends_on & set(stale))
        if gone:
            files = ", ".join(f"{name!r} ({stale[name]})" for name in gone)
            raise StageFailed(
                STAGE, f"{model.path}: model {model.name!r} reads {files}, whose model file "
                "no longer exists; restore that file or change this model",
            )  # fmt: skip
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


def select_models(
    models: dict[str, Model], order: list[str], selectors: Iterable[str]
) -> list[str]:
    """The models chosen by dbt-style selectors, in run order.

    ``NAME`` is the model alone, ``+NAME`` adds everything it reads (recursively), ``NAME+``
    everything that reads it, ``+NAME+`` both. Raises ValueError for an unknown name.
    """
    reads = {m.name: set(m.depends_on & set(models)) for m in models.values()}
    readers: dict[str, set[str]] = {name: set() for name in models}
    for name, upstream in reads.items():
        for parent in upstream:
            readers[parent].add(name)
    chosen: set[str] = set()
    for selector in selectors:
        name = selector.removeprefix("+").removesuffix("+").lower()
        if name not in models:
            known = ", ".join(sorted(models))
            raise ValueError(f"--select {selector}: no model named {name!r} (models: {known})")
        chosen.add(name)
        if selector.startswith("+"):
            chosen |= _reachable(name, reads)
        if selector.endswith("+"):
            chosen |= _reachable(name, readers)
    return [name for name in order if name in chosen]


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in edges[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return seen


def plan_models(
    conn: duckdb.DuckDBPyConnection, models_dir: Path, select: Iterable[str] | None = None
) -> tuple[list[Model], list[str]]:
    """The models to build, in dependency order, and the stale models dropped on the way.

    Every model is discovered and checked (unknown references, cycles) even when only some are
    selected. Relations of models whose file was deleted and that nothing reads any more are
    dropped, so the warehouse holds exactly the models in ``sql/models``.
    """
    models = discover_models(conn, models_dir)
    order = order_models(conn, models)
    if select:
        order = select_models(models, order, select)
    dropped = []
    for name in sorted(set(_registry(conn)) - set(models)):
        _drop_relation(conn, name)
        conn.execute(f"delete from {REGISTRY} where name = ?", [name])
        dropped.append(name)
    return [models[name] for name in order], dropped


def _drop_relation(conn: duckdb.DuckDBPyConnection, name: str, keep: str | None = None) -> None:
    """Drop the view or table ``name`` in main, unless it is already of the kind ``keep``."""
    row = conn.execute(
        "select table_type from information_schema.tables "
        "where table_schema = 'main' and table_name = ?",
        [name],
    ).fetchone()
    if row is None:
        return
    existing = "view" if row[0] == "VIEW" else "table"
    if existing != keep:
        conn.execute(f"drop {existing} {name}")


def build_model(conn: duckdb.DuckDBPyConnection, model: Model) -> None:
    """Create one model as a view or table and record it in ``etl.model``.

    Raises StageFailed naming the file and DuckDB's error.
    """
    kind = model.materialized
    try:
        _drop_relation(conn, model.name, keep=kind)
        conn.execute(f"create or replace {kind} {model.name} as\n{model.sql}")
        conn.execute(
            f"insert or replace into {REGISTRY} values (?, ?, ?, ?)",
            [model.name, str(model.path), kind, dt.datetime.now(dt.UTC)],
        )
    except duckdb.Error as exc:
        raise StageFailed(f"model:{model.name}", f"{model.path}: {exc}") from exc


def build_in_order(plan: list[Model], build: Callable[[Model], object]) -> ModelResult:
    """Build each planned model with ``build``; a failure skips only the models that read it."""
    started = time.perf_counter()
    result = ModelResult()
    broken: set[str] = set()
    for model in plan:
        if model.depends_on & broken:
            result.skipped.append(model.name)
            broken.add(model.name)
            continue
        try:
            build(model)
            result.built.append(model.name)
        except StageFailed as exc:
            result.failed[model.name] = exc.detail
            broken.add(model.name)
    result.seconds = time.perf_counter() - started
    return result


def run_models(
    conn: duckdb.DuckDBPyConnection,
    models_dir: Path,
    select: Iterable[str] | None = None,
    run_stage: Callable[..., Any] | None = None,
) -> ModelResult:
    """Create every (selected) model as a view or table in dependency order, on one connection.

    A failing model is reported with its file and DuckDB's error; only its dependents are skipped.
    ``run_stage(name, fn, *args)``, when given, runs the planning as stage ``models`` and each
    build as stage ``model:NAME`` (the Prefect flow makes each a task).
    """
    started = time.perf_counter()
    stage = run_stage or (lambda _name, fn, *args: fn(*args))
    plan, dropped = stage("models", plan_models, conn, models_dir, select)
    result = build_in_order(plan, lambda one: stage(f"model:{one.name}", build_model, conn, one))
    result.dropped = dropped
    # a rebuilt model has lost its comments: write every table's, model's and column's again
    from flows.models.comments import (
        comment_relations,
    )  # it reads the declarations, which import this

    comment_relations(conn, models_dir.parent)
    result.seconds = time.perf_counter() - started
    return result
