"""Read the published warehouse for analysis: one consistent, read-only snapshot.

For notebooks and the ``newsflow query/tables/report/export`` commands::

    from flows import Warehouse

    with Warehouse() as wh:  # NEWSFLOW_WAREHOUSE or warehouse/news.duckdb
        wh.relations()  # every table and model with its row count
        quality = wh.df("quality_by_provider")  # one table or model as a DataFrame
        busy = wh.sql("select * from topic_trends where article_count >= ?", [2])

A :class:`Warehouse` holds one read-only DuckDB connection, so everything read through it comes
from the same complete run even while a new run publishes (see :mod:`flows.load.publish`). It never
writes and never blocks a run. To see a newer run, close it and open a new one: DuckDB shares one
database per file within a process, so a second ``Warehouse`` opened while the first is still
open sees the same run. Times are shown in UTC.

The connection is sandboxed (docs/sandbox.md): SQL cannot read or write files (``copy``,
``export database``, ``read_csv``, ``read_text``...), attach other databases, install or load
extensions, scan Python variables by name, or change any setting. ``newsflow export`` writes
Parquet through a separate writer limited to its output folder (:mod:`flows.analysis.export`);
``conn.register(name, frame)`` still makes a DataFrame queryable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from flows.db import open_sandboxed
from flows.paths import shown
from flows.records import WarehouseNotFound

ROLES = ("table", "model", "etl")
# Order-independent content checksum, recomputable from any copy of the rows in DuckDB.
CHECKSUM_SQL = "sum(md5_number_lower(cast(checked_row as varchar))::hugeint)"
CHECKSUM_METHOD = (
    "DuckDB: sum(md5_number_lower(CAST(row AS VARCHAR))) over every row, with the columns in the "
    "listed order and SET TimeZone = 'UTC'"
)


class QueryError(Exception):
    """A query failed: DuckDB's message, plus a hint of what to do."""


@dataclass(frozen=True)
class RelationInfo:
    """One table or model of the warehouse."""

    name: str  # "article", "quality_by_provider", "etl.run"
    schema: str
    kind: str  # "table" or "view", as stored
    role: str  # "table" (loaded data), "model" (sql/models) or "etl" (bookkeeping)
    columns: int
    rows: int | None  # None when counting failed (a broken view)

    @property
    def quoted(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name.split('.')[-1])}"


@dataclass(frozen=True)
class QueryResult:
    """The rows of one query (at most ``limit``), with column names and DuckDB types."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows exist than were fetched
    seconds: float

    def records(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` dicts."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def open_warehouse(path: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, for notebooks and ad hoc queries.

    It sees one complete run for as long as it stays open, never blocks a running load, and
    shows times in UTC. ``path`` defaults to ``NEWSFLOW_WAREHOUSE`` or ``warehouse/news.duckdb``.
    It is sandboxed (:func:`flows.db.open_sandboxed`, docs/sandbox.md): SQL through it cannot read
    or write files, attach databases, load extensions or change settings.
    """
    from flows.settings import load_settings

    published = Path(path) if path is not None else load_settings().warehouse
    return open_sandboxed(require_warehouse(published))


def require_warehouse(path: Path) -> Path:
    """``path`` when a warehouse is published there; else :class:`WarehouseNotFound` (a
    ``FileNotFoundError``), the one wording of a missing warehouse."""
    if not path.exists():
        raise WarehouseNotFound(shown(path))
    return path


def read_relation(name: str, path: Path | str | None = None) -> Any:
    """One table or model as a pandas DataFrame (``read_relation('quality_by_provider')``)."""
    with Warehouse(path) as wh:
        return wh.df(name)


class Warehouse:
    """A read-only, consistent view of the published warehouse (see the module docstring)."""

    def __init__(self, path: Path | str | None = None) -> None:
        from flows.settings import load_settings

        self.path = Path(path) if path is not None else load_settings().warehouse
        self.conn = open_warehouse(self.path)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    def close(self) -> None:
        self.conn.close()

    # -- for notebooks: DataFrames ---------------------------------------------------------

    def df(self, name: str) -> Any:
        """One table or model as a pandas DataFrame: ``wh.df("topic_trends")``."""
        relation = self.relation(name)
        return self.conn.sql(f"select * from {relation.quoted}").df()

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """The result of a query as a pandas DataFrame (``?`` or ``$name`` parameters)."""
        try:
            return self.conn.execute(query, params).df()
        except duckdb.Error as exc:
            raise QueryError(self._explain(exc)) from None

    def relations(self, include_etl: bool = True) -> Any:
        """Every table and model with its role, kind, column and row counts, as a DataFrame."""
        import pandas as pd

        infos = self.list_relations(include_etl=include_etl)
        return pd.DataFrame(
            [(r.name, r.role, r.kind, r.columns, r.rows) for r in infos],
            columns=["name", "role", "kind", "columns", "rows"],
        )

    def search(self, query: str, limit: int = 10) -> QueryResult:
        """Live articles matching any term of ``query`` in title, excerpt or body, best first.

        Ranked by BM25 over the index the run keeps (:mod:`flows.load.search`, docs/search.md);
        columns article_id, title, published_at, provider, score; ties by article_id. A query
        without any term (letters or digits) raises ``ValueError``; a warehouse published
        before search existed raises :class:`QueryError` (its next run builds the index).
        """
        from flows.load.search import SEARCH_SQL, query_terms

        if limit < 1:
            raise ValueError("limit must be at least 1")
        if not query_terms(self.conn, query):
            raise ValueError(f"nothing to search for in {query!r}: no letters or digits")
        started = time.perf_counter()
        try:
            cursor = self.conn.execute(SEARCH_SQL, {"query": query, "limit": limit})
        except duckdb.CatalogException as exc:
            raise QueryError(
                f"this warehouse has no search index ({exc}); the next `newsflow run` builds it"
            ) from None
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        rows = cursor.fetchall()
        return QueryResult(columns, types, rows, False, time.perf_counter() - started)

    def search_index_behind(self) -> bool:
        """True when the search index does not reflect the live articles (its last refresh did
        not finish, e.g. it ran out of memory); False when it does or there is none."""
        from flows.load.search import FINGERPRINT_KEY, fingerprint

        try:
            rows = self.conn.execute(
                "select value from etl.meta where key = ?", [FINGERPRINT_KEY]
            ).fetchall()
            return not rows or rows[0][0] != fingerprint(self.conn)
        except duckdb.CatalogException:
            return False

    # -- shared with the CLI ---------------------------------------------------------------

    def list_relations(
        self, include_etl: bool = True, count_rows: bool = True
    ) -> list[RelationInfo]:
        """Warehouse tables, then models, then (optionally) the etl tables, each by name."""
        models = set(self._model_names())
        found = self.conn.execute(
            "select tables.table_schema, tables.table_name, tables.table_type, count(*) "
            "from information_schema.tables as tables "
            "inner join information_schema.columns as columns "
            "on tables.table_catalog = columns.table_catalog "
            "and tables.table_schema = columns.table_schema "
            "and tables.table_name = columns.table_name "
            "where tables.table_catalog = current_database() "
            "and tables.table_schema in ('main', 'etl') "
            "group by all"
        ).fetchall()
        infos = []
        for schema, name, table_type, columns in found:
            if schema == "etl" and not include_etl:
                continue
            role = "etl" if schema == "etl" else "model" if name in models else "table"
            kind = "view" if table_type == "VIEW" else "table"
            shown = f"etl.{name}" if schema == "etl" else name
            infos.append(RelationInfo(shown, schema, kind, role, columns, None))
        infos.sort(key=lambda r: (ROLES.index(r.role), r.name))
        if count_rows:
            infos = [self._with_rows(info) for info in infos]
        return infos

    def count_rows(self, relation: RelationInfo) -> RelationInfo:
        return self._with_rows(relation)

    def relation(self, name: str) -> RelationInfo:
        """The table or model called ``name`` (``etl.run`` for bookkeeping); a clear error else."""
        for info in self.list_relations(count_rows=False):
            if info.name == name:
                return info
        raise QueryError(f"no table or model named {name!r}. {self.names_hint()}")

    def query(self, sql: str, limit: int | None = None) -> QueryResult:
        """Run ``sql`` (read-only) and fetch at most ``limit`` rows (None: all)."""
        started = time.perf_counter()
        try:
            cursor = self.conn.execute(sql)
            if cursor.description is None:
                return QueryResult([], [], [], False, time.perf_counter() - started)
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
        except duckdb.Error as exc:
            raise QueryError(self._explain(exc)) from None
        truncated = limit is not None and len(rows) > limit
        return QueryResult(
            columns=[d[0] for d in cursor.description],
            types=[str(d[1]) for d in cursor.description],
            rows=rows[:limit] if truncated else rows,
            truncated=truncated,
            seconds=time.perf_counter() - started,
        )

    def checksum(self, select_sql: str) -> tuple[int, str]:
        """Row count and order-independent content checksum of a query (see CHECKSUM_METHOD)."""
        count, total = self.conn.execute(
            f"select count(*), {CHECKSUM_SQL} from ({select_sql}) as checked_row"
        ).fetchall()[0]
        return count, str(total or 0)

    def last_run(self) -> dict[str, Any] | None:
        """The newest successful run recorded in ``etl.run`` (id, start, end), if any."""
        try:
            rows = self.conn.execute(
                "select run_id, started_at, finished_at from etl.run where status = 'success' "
                "order by finished_at desc limit 1"
            ).fetchall()
        except duckdb.CatalogException:
            return None
        if not rows:
            return None
        return dict(zip(("run_id", "started_at", "finished_at"), rows[0], strict=True))

    def names_hint(self) -> str:
        names = [r.name for r in self.list_relations(count_rows=False) if r.role != "etl"]
        return (
            f"Tables and models in {self.path}: {', '.join(names)}; "
            "bookkeeping in etl.* (`newsflow tables` lists them all with row counts)."
        )

    def _model_names(self) -> list[str]:
        try:
            return [row[0] for row in self.conn.execute("select name from etl.model").fetchall()]
        except duckdb.CatalogException:
            return []

    def _with_rows(self, info: RelationInfo) -> RelationInfo:
        try:
            [(rows,)] = self.conn.execute(f"select count(*) from {info.quoted}").fetchall()
        except duckdb.Error:
            rows = None
        return RelationInfo(info.name, info.schema, info.kind, info.role, info.columns, rows)

    def _explain(self, exc: duckdb.Error) -> str:
        message = str(exc).strip()
        if isinstance(exc, duckdb.CatalogException) and "does not exist" in message:
            return f"{message}\n{self.names_hint()}"
        locked = "configuration has been locked" in message
        if isinstance(exc, duckdb.PermissionException) or locked:
            return (
                f"{message.splitlines()[0]} (the warehouse is sandboxed: queries cannot read or "
                "write files, attach databases, load extensions or change settings; see "
                "docs/sandbox.md)"
            )
        if "read-only mode" in message:
            return (
                f"{message}\nThe warehouse is opened read-only: queries never change it. "
                "Data changes come from `newsflow run`."
            )
        return message
