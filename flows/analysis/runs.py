"""Run history from ``etl.run`` for ``newsflow status``: no Prefect server needed.

Where the rows live: a failed run publishes nothing, so its row exists only in the writer's
working copy (``.<name>.newsflow/working.duckdb``), which holds every run. When no writer holds
the lock, the history is read from the working copy (read-only); while a run is in progress, the
working copy is the writer's, so the history comes from the published file (the runs up to the
last successful one) and the run in progress is named from the lock's holder file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from flows.db import open_connection, records
from flows.load.publish import WarehouseFiles, describe_holder, files_for, read_holder
from flows.paths import shown
from flows.records import WarehouseNotFound

COLUMNS = (
    "run_id, flow_run_id, status, started_at, finished_at, files_seen, files_loaded, "
    "files_rejected, files_skipped, files_unchanged, files_superseded, files_ignored, "
    "files_deleted, warnings, error"
)


@dataclass
class RunHistory:
    """The last runs of one warehouse, newest first, and where they were read from."""

    warehouse: Path
    read_from: Path | None = None
    source: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    writer: dict[str, Any] | None = None  # the run holding the lock, when one does
    notes: list[str] = field(default_factory=list)


def read_runs(warehouse: Path, limit: int = 10) -> RunHistory:
    """The last ``limit`` rows of ``etl.run`` for the warehouse published at ``warehouse``.

    Raises :class:`WarehouseNotFound` when neither the warehouse nor its working copy exists.
    """
    files = files_for(warehouse)
    history = RunHistory(warehouse=files.published)
    if not files.published.exists() and not files.working.exists():
        raise WarehouseNotFound(shown(warehouse))
    if _writer_active(files):
        history.writer = read_holder(files) or {}
        history.notes.append(
            f"a run is in progress ({describe_holder(history.writer)}); showing the runs "
            "published so far, the run in progress is recorded when it ends"
        )
    elif files.working.exists():
        try:
            history.runs = _query(files.working, limit)
            history.read_from, history.source = files.working, "working copy"
        except duckdb.IOException as exc:
            if "Could not set lock" in str(exc):  # a writer opened it after the lock check
                history.notes.append(
                    f"the working copy is open by a writer ({_first_line(exc)}); showing the "
                    "published warehouse instead"
                )
            else:  # cut short or damaged: the next run rebuilds it (docs/warehouse-files.md)
                history.notes.append(
                    f"the working copy cannot be read ({_first_line(exc)}); the next run "
                    "rebuilds it from the published warehouse; showing the published "
                    "warehouse instead"
                )
    if history.read_from is None and files.published.exists():
        history.runs = _query(files.published, limit)
        history.read_from, history.source = files.published, "published warehouse"
    for run in history.runs:
        run["status"] = _effective_status(run, history.writer)
    return history


def _writer_active(files: WarehouseFiles) -> bool:
    """Whether a process holds the writer lock (probed without waiting, released at once)."""
    if not files.lock.exists():
        return False
    lock = FileLock(str(files.lock))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _query(path: Path, limit: int) -> list[dict[str, Any]]:
    conn = open_connection(path, read_only=True)
    try:
        exists = conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'etl' and table_name = 'run'"
        ).fetchone()[0]
        if not exists:
            return []
        return records(
            conn, f"select {COLUMNS} from etl.run order by started_at desc limit ?", [int(limit)]
        )
    finally:
        conn.close()


def _effective_status(run: dict[str, Any], writer: dict[str, Any] | None) -> str:
    """A row still ``running`` whose run holds no lock was killed or crashed mid-run."""
    if run["status"] != "running":
        return run["status"]
    if writer is not None and writer.get("run_id") == run["run_id"]:
        return "running"
    return "interrupted"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def duration(run: dict[str, Any]) -> float | None:
    """Seconds from start to end, or None for a run without an end."""
    started, finished = run.get("started_at"), run.get("finished_at")
    if not isinstance(started, dt.datetime) or not isinstance(finished, dt.datetime):
        return None
    return (finished - started).total_seconds()
