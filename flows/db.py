"""Database plumbing, the only copy: connect, cursor, schema set-up and its version check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.records import StageFailed

SCHEMA_VERSION = "2"
# The row of etl.meta that marks a warehouse newsflow created (docs/warehouse-files.md).
MARKER = ("created_by", "newsflow")


# Rows per row group for everything newsflow writes (DuckDB's default is 122,880). A checkpoint
# compresses again the last, partly filled row group of every table it touches; with the default
# a 100,000-article load has one such group per table, so every checkpoint recompressed all the
# raw front matter loaded so far. With 32,768 the full groups are written once and only the tail
# group is redone: at 100,000 documents the final checkpoint drops from about 2 s to about 1 s
# and the file stays the same size. The size belongs to the attached database, not to the file,
# so every writer attaches with it (readers need nothing: any row group size reads the same).
ROW_GROUP_SIZE = 32768
CATALOG = "warehouse"
# The storage format of every warehouse file newsflow creates: the one DuckDB 1.4 LTS reads, so
# PyPI's duckdb-cli (1.5), the 1.4 Python client, JDBC and R open the published file too
# (docs/duckdb-line.md). DuckDB keeps a file's format on later writes; an existing file changes
# format only by `newsflow warehouse downgrade|upgrade` (flows/load/publish.py, ``rewrite``).
STORAGE_VERSION = "v1.4.0"


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """:func:`open_connection`, failing as stage ``connect`` (for the run's stages)."""
    try:
        return open_connection(path, read_only=read_only)
    except duckdb.Error as exc:
        raise StageFailed("connect", f"cannot open warehouse {path}: {exc}") from exc


def open_connection(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file (creating its folder when writing); DuckDB's errors propagate.

    Every connection newsflow opens shows TIMESTAMPTZ values in UTC, whatever the process
    time zone (``set TimeZone``: see :func:`in_utc`).

    A writer attaches the file as catalog ``warehouse`` (with ``ROW_GROUP_SIZE``) to an
    in-memory DuckDB and makes it the default, so unqualified names resolve as before. ``USE``
    holds per connection: a cursor of this connection must run ``use warehouse`` too
    (:func:`cursor`). Spills go to ``<file>.tmp``, as for ``duckdb.connect(file)``.
    """
    path = Path(path)
    if read_only:
        return in_utc(duckdb.connect(str(path), read_only=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(config={"temp_directory": f"{path}.tmp"})
    try:
        quoted = str(path).replace("'", "''")
        # A new file gets STORAGE_VERSION; an existing one keeps its own (DuckDB refuses to
        # attach a file with a storage version lower than the one it was written with).
        storage = "" if path.exists() else f", storage_version '{STORAGE_VERSION}'"
        conn.execute(f"attach '{quoted}' as {CATALOG} (row_group_size {ROW_GROUP_SIZE}{storage})")
        conn.execute(f"use {CATALOG}")
        return in_utc(conn)
    except BaseException:
        conn.close()
        raise


def open_sandboxed(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a warehouse file that can reach nothing else (docs/sandbox.md).

    The file is opened read-only first; then external access is disabled (no file read or
    written through SQL, no ``attach``, no extension installed or loaded) and the configuration
    is locked, so no ``set`` can give any of it back. Times show in UTC. DuckDB shares one
    database per file within a process, so every connection to that file in this process is
    sandboxed until the last one closes; a shared database locked in some other way is refused.
    """
    conn = duckdb.connect(str(path), read_only=True)
    try:
        if not _setting(conn, "lock_configuration"):
            conn.execute("set global TimeZone = 'UTC'")
            conn.execute("set enable_external_access = false")
            conn.execute("set lock_configuration = true")
        elif _setting(conn, "enable_external_access"):
            raise duckdb.InvalidInputException(
                f"{path} is already open in this process with a locked configuration that "
                "allows external access; close that connection first"
            )
        return in_utc(conn)
    except BaseException:
        conn.close()
        raise


def open_file_writer(directory: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that may write files under ``directory`` only, in UTC (for exports).

    It holds no warehouse: rows reach it as Arrow from a sandboxed reader. Everything outside
    ``directory`` (reads included) is refused and the configuration is locked.
    """
    conn = duckdb.connect()
    try:
        conn.execute("set TimeZone = 'UTC'")
        conn.execute("set allowed_directories = ?", [[f"{Path(directory).absolute()}/"]])
        conn.execute("set enable_external_access = false")
        conn.execute("set lock_configuration = true")
        return conn
    except BaseException:
        conn.close()
        raise


def storage_version(conn: duckdb.DuckDBPyConnection, catalog: str | None = None) -> str:
    """The storage format of an attached database (``v1.4.0+``, ``v2.0.0+``): the oldest DuckDB
    that reads it. ``catalog`` defaults to the connection's current database."""
    row = conn.execute(
        "select tags['storage_version'] from duckdb_databases() where database_name = "
        "coalesce(?, current_database())",
        [catalog],
    ).fetchone()
    return str(row[0])


def _setting(conn: duckdb.DuckDBPyConnection, name: str) -> object:
    return conn.execute("select current_setting(?)", [name]).fetchall()[0][0]


def in_utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``conn``, set to show TIMESTAMPTZ values in UTC (the setting is per connection).

    A connection that already shows UTC is left alone: a sandboxed database
    (:func:`open_sandboxed`) is locked, and starts every connection in UTC.
    """
    if _setting(conn, "TimeZone") != "UTC":
        conn.execute("set TimeZone = 'UTC'")
    return conn


def cursor(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to ``conn``'s database, reading the same default catalog, in UTC."""
    catalog = conn.execute("select current_database()").fetchone()[0].replace('"', '""')
    other = conn.cursor()
    other.execute(f'use "{catalog}"')
    return in_utc(other)


def ensure_schema(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> None:
    """Create the warehouse and etl tables if they do not exist; refuse an older layout.

    A warehouse it creates gets newsflow's mark in etl.meta (:data:`MARKER`), and so does one
    made before the mark (it has a schema version)."""
    existed = bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = 'article'"
        ).fetchone()[0]
    )
    for ddl in sorted((sql_dir / "schema").glob("*.sql")):
        conn.execute(ddl.read_text(encoding="utf-8"))
    row = conn.execute("select value from etl.meta where key = 'schema_version'").fetchone()
    if row is None and not existed:
        conn.execute("insert into etl.meta values ('schema_version', ?)", [SCHEMA_VERSION])
        conn.execute("insert into etl.meta values (?, ?)", list(MARKER))
    elif row is None or row[0] != SCHEMA_VERSION:
        found = row[0] if row else "1"
        raise StageFailed(
            "begin",
            f"the warehouse was built with schema version {found}, this newsflow writes "
            f"{SCHEMA_VERSION}: rebuild it from the sources with `newsflow run --full-refresh`",
        )
    else:  # a warehouse made before the mark: it has a schema version, so it is newsflow's
        conn.execute("insert into etl.meta values (?, ?) on conflict do nothing", list(MARKER))


@contextmanager
def registered(conn: duckdb.DuckDBPyConnection, tables: Mapping[str, pa.Table]) -> Iterator[None]:
    """Arrow tables readable by SQL under the given names (no copy) for the block, then gone."""
    for name, table in tables.items():
        conn.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            conn.unregister(name)


@contextmanager
def transaction(
    conn: duckdb.DuckDBPyConnection,
    stage: str,
    what: str,
    tables: Mapping[str, pa.Table] | None = None,
) -> Iterator[None]:
    """One transaction, with ``tables`` registered for it: committed when the block ends, rolled
    back on any error, which is raised as ``StageFailed(stage, "<what> rolled back: ...")``."""
    conn.execute("begin transaction")
    with registered(conn, tables or {}):
        try:
            yield
            conn.execute("commit")
        except Exception as exc:
            # When the commit itself failed (a full disk), DuckDB has already ended the
            # transaction and ``rollback`` fails too: report the error that happened, not that.
            with suppress(duckdb.Error):
                conn.execute("rollback")
            raise StageFailed(stage, f"{what} rolled back: {exc}") from exc


def records(
    conn: duckdb.DuckDBPyConnection, sql: str, params: object = None
) -> list[dict[str, object]]:
    """The rows of one query as ``{column: value}`` dicts."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
