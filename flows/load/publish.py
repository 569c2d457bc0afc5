"""Where a warehouse lives on disk: one writer, many readers, atomic publication.

``--warehouse out/x.duckdb`` names the **published** file that readers open. A run never writes it
in place: it takes the writer lock, works on a private copy in ``out/.x.duckdb.newsflow/``, and when
the run has succeeded, copies that file next to the published one and renames it over it
(``os.replace`` is atomic). A reader that holds ``duckdb.connect(path, read_only=True)`` keeps the
file it opened — the previous complete run — and never blocks the writer; a new connection sees
the new run. Nothing half-done is ever published.

Files newsflow did not create are never touched: before anything is written (the hidden folder,
the lock) :func:`check_published` refuses a ``--warehouse`` path that is a folder, not a DuckDB
file, or a DuckDB database without newsflow's mark in ``etl.meta``. The working copy is made by
copy-then-rename and checked before use; a failed publish removes its partial copy. The rules are
in docs/warehouse-files.md.

Cost: the warehouse exists twice on disk (working + published), and each successful run copies the
file once (sequential I/O, about a second per GB from the page cache).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from flows.db import (
    MARKER,
    ROW_GROUP_SIZE,
    STORAGE_VERSION,
    connect,
    ensure_schema,
    open_connection,
    storage_version,
)
from flows.records import StageFailed


@dataclass(frozen=True)
class WarehouseFiles:
    """The files behind one ``--warehouse`` path."""

    published: Path

    @property
    def home(self) -> Path:
        return self.published.parent / f".{self.published.name}.newsflow"

    @property
    def working(self) -> Path:
        return self.home / "working.duckdb"

    @property
    def lock(self) -> Path:
        return self.home / "writer.lock"

    @property
    def holder(self) -> Path:
        return self.home / "writer.json"

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    @property
    def copying(self) -> Path:
        """Where the working copy is written before it is renamed into place."""
        return self.home / "working.duckdb.copying"

    @property
    def publishing(self) -> Path:
        """Where the published file is written before it is renamed over it."""
        return self.published.with_name(f".{self.published.name}.publishing")


def files_for(published: Path) -> WarehouseFiles:
    return WarehouseFiles(Path(os.path.abspath(published)))


# A DuckDB file starts with an 8-byte checksum and the magic bytes ``DUCK``.
DUCKDB_MAGIC = (8, b"DUCK")


def check_published(files: WarehouseFiles) -> None:
    """Refuse, without touching it, a ``--warehouse`` path newsflow did not create.

    Accepted: no file yet (a run creates it), or a DuckDB file whose ``etl.meta`` holds the
    mark newsflow writes (``created_by``) or a ``schema_version`` (warehouses made before the
    mark). Refused with ``StageFailed("warehouse", ...)``: a folder, anything that is not a
    regular file, a file that is not a DuckDB database (an empty one included), a DuckDB
    database without the mark, and one that cannot be opened. The message names the way out.
    """
    path = files.published
    way_out = (
        "newsflow only writes warehouses it created and never modifies another file "
        "(--full-refresh included): choose another --warehouse path, or move this one away"
    )
    if not os.path.lexists(path):
        return
    if path.is_dir():
        raise StageFailed("warehouse", f"{path} is a folder, not a warehouse file; {way_out}")
    if not path.is_file():
        raise StageFailed("warehouse", f"{path} is not a regular file; {way_out}")
    offset, magic = DUCKDB_MAGIC
    try:
        with open(path, "rb") as handle:
            head = handle.read(offset + len(magic))
    except OSError as exc:
        raise StageFailed("warehouse", f"cannot read {path} ({exc}); {way_out}") from exc
    if head[offset:] != magic:
        raise StageFailed(
            "warehouse", f"{path} is not a DuckDB database, so not a newsflow warehouse; {way_out}"
        )
    try:
        conn = open_connection(path, read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageFailed(
            "warehouse", f"cannot open {path} as a DuckDB database ({first}); {way_out}"
        ) from exc
    try:
        marked = _is_marked(conn)
    except duckdb.Error:
        marked = False
    finally:
        conn.close()
    if not marked:
        raise StageFailed(
            "warehouse",
            f"{path} is a DuckDB database that newsflow did not create (its etl.meta has no "
            f"{MARKER[0]} = '{MARKER[1]}' or schema_version); {way_out}",
        )


def _is_marked(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open database's etl.meta has newsflow's mark or a schema version."""
    has_meta = conn.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'etl' and table_name = 'meta'"
    ).fetchone()[0]
    if not has_meta:
        return False
    found = conn.execute(
        "select count(*) from etl.meta where key = 'schema_version' or (key = ? and value = ?)",
        list(MARKER),
    ).fetchone()[0]
    return bool(found)


@contextmanager
def writer_lock(files: WarehouseFiles, run_id: str, timeout: float) -> Iterator[None]:
    """Hold the single-writer lock; wait up to ``timeout`` seconds, then fail naming the holder.

    The lock is an OS file lock (``filelock``): it is released when the process ends, even by
    ``kill -9``, so a crashed run never leaves a stale lock behind. A ``--warehouse`` path that
    is not newsflow's is refused first (:func:`check_published`), before anything is created.
    """
    check_published(files)
    files.home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(files.lock))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        holder = describe_holder(read_holder(files))
        raise StageFailed(
            "lock",
            f"another newsflow run holds the warehouse {files.published} ({holder}); "
            f"waited {timeout:g} s. Try again when it has finished, or wait longer with "
            "--lock-timeout.",
        ) from None
    try:
        files.holder.write_text(
            json.dumps(
                {
                    "run_id": run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        )
        yield
    finally:
        files.holder.unlink(missing_ok=True)
        lock.release()


def read_holder(files: WarehouseFiles) -> dict[str, Any] | None:
    """What the lock holder wrote about itself (run id, pid, host, since), if readable."""
    try:
        return json.loads(files.holder.read_text())
    except (OSError, ValueError):
        return None


def describe_holder(holder: dict[str, Any] | None) -> str:
    """``run ID, pid PID on HOST, since TIME``, or ``holder unknown``."""
    if not holder:
        return "holder unknown"
    return (
        f"run {holder.get('run_id')}, pid {holder.get('pid')} on {holder.get('host')}, "
        f"since {holder.get('since')}"
    )


def prepare_working(files: WarehouseFiles, full_refresh: bool, sql_dir: Path | None = None) -> None:
    """Make sure a usable working copy exists: start from the published file, or from nothing.

    Call with the writer lock held. ``full_refresh`` starts an empty warehouse (its schema from
    ``sql_dir``/schema) that keeps the history (:data:`HISTORY_TABLES`) of the working copy, or
    of the published file when there is no usable working copy (:func:`_fresh_with_history`).
    A working copy
    that does not open or whose ``etl.meta`` cannot be read (truncated by a kill or a full disk
    while it was copied by an older newsflow, or damaged since) is removed and made again from
    the published file. The copy is written beside it and renamed into place once complete and
    synced, so a copy cut short never becomes the working copy.
    """
    files.home.mkdir(parents=True, exist_ok=True)
    # Leftovers of a run that was killed: nobody else can be using them while we hold the lock.
    shutil.rmtree(files.staging, ignore_errors=True)
    for leftover in (files.copying, files.publishing):
        leftover.unlink(missing_ok=True)
    usable = files.working.exists() and working_copy_usable(files.working)
    if full_refresh and sql_dir is not None:
        _fresh_with_history(files, files.working if usable else files.published, sql_dir)
        return
    if full_refresh or (files.working.exists() and not usable):
        _remove_working(files)
    if full_refresh or files.working.exists():
        return
    # No working copy: a write-ahead log left beside it belongs to a copy that is gone.
    _remove_working(files)
    if files.published.exists():
        try:
            _copy_synced(files.published, files.copying)
            os.replace(files.copying, files.working)
            _sync_folder(files.home)
        except OSError as exc:
            raise StageFailed(
                "begin", f"cannot copy {files.published} to make the working copy: {exc}"
            ) from exc


# The etl tables that record history rather than describe the current load: a full refresh
# rebuilds the data (etl.file, etl.rejection, etl.warning, etl.drift, etl.front_matter,
# etl.model, the warehouse tables) and carries these over.
HISTORY_TABLES = ("etl.run",)


def _fresh_with_history(files: WarehouseFiles, prior: Path, sql_dir: Path) -> None:
    """Replace the working copy with an empty warehouse holding ``prior``'s history tables.

    The new file is built beside it (``copying``), checkpointed, synced and renamed into place,
    so a crash leaves either the old working copy or the new one. Columns are carried by name
    (those the current schema still has), so a refresh across schema versions keeps them too.
    """
    files.copying.unlink(missing_ok=True)
    conn = connect(files.copying)
    try:
        ensure_schema(conn, sql_dir)
        if prior.exists() and _attach_prior(conn, prior):
            for table in HISTORY_TABLES:
                _carry(conn, table)
            conn.execute("detach prior")
        conn.execute("checkpoint")
    except duckdb.Error as exc:
        conn.close()
        files.copying.unlink(missing_ok=True)
        raise StageFailed(
            "begin", f"cannot carry the run history of {prior} into the rebuilt warehouse: {exc}"
        ) from exc
    except BaseException:
        conn.close()
        files.copying.unlink(missing_ok=True)
        raise
    conn.close()
    with open(files.copying, "rb") as handle:
        os.fsync(handle.fileno())
    _remove_working(files)  # its write-ahead log must not meet the new file
    os.replace(files.copying, files.working)
    _sync_folder(files.home)


def _attach_prior(conn: duckdb.DuckDBPyConnection, prior: Path) -> bool:
    """Attach ``prior`` read-only as ``prior``; False when it does not open (a damaged file,
    the reason to rebuild: there is no history to keep)."""
    try:
        conn.execute("attach ? as prior (read_only)", [str(prior)])
    except duckdb.Error:
        return False
    return True


def _carry(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Copy ``prior.<table>`` into ``<table>``, the columns both have, by name."""
    schema, name = table.split(".")
    columns = [
        row[0]
        for row in conn.execute(
            "select p.column_name from duckdb_columns() p join duckdb_columns() c "
            "on p.column_name = c.column_name and c.database_name = current_database() "
            "and c.schema_name = p.schema_name and c.table_name = p.table_name "
            "where p.database_name = 'prior' and p.schema_name = ? and p.table_name = ? "
            "order by p.column_index",
            [schema, name],
        ).fetchall()
    ]
    if columns:
        listed = ", ".join(f'"{c}"' for c in columns)
        conn.execute(f"insert into {table} ({listed}) select {listed} from prior.{table}")


# A DuckDB file is its header (three 4 KiB blocks) followed by ``total_blocks`` blocks.
DUCKDB_HEADER_BYTES = 3 * 4096


def working_copy_usable(path: Path) -> bool:
    """Whether the working copy opens as a writer would open it, its etl.meta is readable, and
    the file holds every block its header counts (a copy cut short may still open)."""
    try:
        conn = open_connection(path)
    except duckdb.Error:
        return False
    try:
        conn.execute("select value from etl.meta where key = 'schema_version'").fetchall()
        block_size, blocks = conn.execute(
            "select block_size, total_blocks from pragma_database_size() "
            "where database_name = current_database()"
        ).fetchone()
    except duckdb.Error:
        return False
    finally:
        conn.close()
    return path.stat().st_size >= DUCKDB_HEADER_BYTES + block_size * blocks


def _remove_working(files: WarehouseFiles) -> None:
    for path in (files.working, files.working.with_name(files.working.name + ".wal")):
        path.unlink(missing_ok=True)


def _copy_synced(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` and flush it to disk; a partial ``target`` is removed."""
    try:
        shutil.copyfile(source, target)
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def publish(files: WarehouseFiles) -> None:
    """Copy the (checkpointed, closed) working file over the published one, atomically.

    On failure (a full disk) the partial copy is removed, the published file is unchanged, and
    ``StageFailed("publish", ...)`` is raised.
    """
    conn = connect(files.working)  # a writer like the others: it may replay a write-ahead log
    try:
        conn.execute("checkpoint")
    except duckdb.Error as exc:
        raise StageFailed("publish", f"cannot checkpoint the working copy: {exc}") from exc
    finally:
        conn.close()
    try:
        _copy_synced(files.working, files.publishing)
        os.replace(files.publishing, files.published)
        _sync_folder(files.published.parent)
    except OSError as exc:
        files.publishing.unlink(missing_ok=True)
        raise StageFailed(
            "publish",
            f"cannot publish {files.published} ({exc}); the published warehouse is unchanged",
        ) from exc


# The storage formats `newsflow warehouse downgrade|upgrade` write (docs/duckdb-line.md).
STORAGE_TARGETS = {"downgrade": STORAGE_VERSION, "upgrade": "latest"}


def rewrite_storage(files: WarehouseFiles, version: str) -> tuple[str, str]:
    """Rewrite the published warehouse in storage format ``version`` (``v1.4.0``, ``latest``).

    Call with the writer lock held. Every schema, table, view, key, comment and row is copied by
    DuckDB (``COPY FROM DATABASE``) into a new file beside the published one, which is synced
    and renamed over it, so readers see the old file or the new one. The working copy is removed
    (the next run copies the new published file; rows of failed runs since the last publish,
    recorded only there, go with it). Returns the storage versions before and after.
    """
    if not files.published.exists():
        raise StageFailed("warehouse", f"{files.published} does not exist: nothing to rewrite")
    files.publishing.unlink(missing_ok=True)
    conn = duckdb.connect()
    try:
        conn.execute("attach ? as source (read_only)", [str(files.published)])
        conn.execute(
            f"attach ? as target (storage_version '{version}', row_group_size {ROW_GROUP_SIZE})",
            [str(files.publishing)],
        )
        before = storage_version(conn, "source")
        conn.execute("copy from database source to target")
        conn.execute("checkpoint target")
        after = storage_version(conn, "target")
    except duckdb.Error as exc:
        conn.close()
        files.publishing.unlink(missing_ok=True)
        raise StageFailed("warehouse", f"cannot rewrite {files.published}: {exc}") from exc
    except BaseException:
        conn.close()
        files.publishing.unlink(missing_ok=True)
        raise
    conn.close()
    try:
        with open(files.publishing, "rb") as handle:
            os.fsync(handle.fileno())
        _remove_working(files)
        os.replace(files.publishing, files.published)
        _sync_folder(files.published.parent)
    except OSError as exc:
        files.publishing.unlink(missing_ok=True)
        raise StageFailed(
            "warehouse", f"cannot replace {files.published} ({exc}); it is unchanged"
        ) from exc
    return before, after
