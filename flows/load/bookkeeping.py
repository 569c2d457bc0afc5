"""Run bookkeeping in the etl schema: a run's row, table sizes, stale quarantine rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence

import duckdb

from flows.extract.discover import real_name
from flows.load.merge import TABLES, _count


def start_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    sources: Sequence[str],
    flow_run_id: str | None = None,
    parameters: dict[str, object] | None = None,
) -> None:
    conn.execute(
        "insert into etl.run (run_id, flow_run_id, started_at, status, sources, parameters) "
        "values (?, ?, ?, 'running', ?, ?)",
        [run_id, flow_run_id, dt.datetime.now(dt.UTC), list(sources),
         json.dumps(parameters or {}, sort_keys=True, default=str)],
    )  # fmt: skip


def table_rows(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: _count(conn, f"select count(*) from {t}") for t in TABLES}


def finish_run(conn: duckdb.DuckDBPyConnection, run_id: str, values: dict[str, object]) -> None:
    """Fill in the run's row: ``values`` maps etl.run columns to values (dicts become JSON)."""
    values = {
        name: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
        for name, v in values.items()
    }
    assignments = ", ".join(f"{name} = ${name}" for name in values)
    conn.execute(
        f"update etl.run set finished_at = $finished_at, {assignments} where run_id = $run_id",
        {**values, "finished_at": dt.datetime.now(dt.UTC), "run_id": run_id},
    )


def forget_missing_rejections(conn: duckdb.DuckDBPyConnection) -> int:
    """Drop quarantine rows of files that no longer exist (deleted or renamed)."""
    rows = conn.execute("select path, kind from etl.rejection").fetchall()
    gone = [
        path
        for path, kind in rows
        if not os.path.lexists(real_name(path) if kind == "bad_file_name" else path)
    ]
    if gone:
        conn.execute(
            "delete from etl.rejection where path in (select unnest($gone))", {"gone": gone}
        )
    return len(gone)
