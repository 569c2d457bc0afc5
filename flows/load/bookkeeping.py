"""Run bookkeeping in the etl schema: a run's row, what its summary shows, stale quarantine rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence

import duckdb

from flows.db import records
from flows.extract.discover import REFUSED_KINDS, real_name
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


def finish_run(conn: duckdb.DuckDBPyConnection, summary: Mapping[str, object]) -> None:
    """Fill in the row of run ``summary["run_id"]`` with every etl.run column ``summary`` has
    (dicts become JSON) and the time it finished."""
    columns = [
        name
        for (name,) in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'etl' and table_name = 'run' order by ordinal_position"
        ).fetchall()
        if name in summary and name != "run_id"
    ]
    values = {
        name: json.dumps(summary[name], sort_keys=True)
        if isinstance(summary[name], dict)
        else summary[name]
        for name in columns
    }
    assignments = ", ".join(f"{name} = ${name}" for name in values)
    conn.execute(
        f"update etl.run set finished_at = $finished_at, {assignments} where run_id = $run_id",
        {**values, "finished_at": dt.datetime.now(dt.UTC), "run_id": summary["run_id"]},
    )


def run_findings(
    conn: duckdb.DuckDBPyConnection, run_id: str, shown: int = 10
) -> dict[str, list[dict[str, object]]]:
    """What a run's summary shows from etl: its first ``shown`` rejections, the rarest kinds
    first (one odd error is not buried under hundreds of a common kind), then by path; every
    rejection kind with its count, most frequent first; and the drift it saw (one row per key
    and type)."""
    run = [run_id]
    return {
        "rejections": records(
            conn,
            "select path, line, col, kind, reason from etl.rejection "
            "where run_id = ? "
            "order by count(*) over (partition by kind), kind, path "
            f"limit {int(shown)}",
            run,
        ),
        "top_reasons": records(
            conn,
            "select kind, count(*) as files from etl.rejection where run_id = ? "
            "group by kind order by files desc, kind",
            run,
        ),
        "drift": records(
            conn,
            "select key_path, observed_type, expected_type, sum(documents)::integer as documents, "
            "min(example_path) as example_path from etl.drift where run_id = ? "
            "group by all order by documents desc, key_path, observed_type",
            run,
        ),
    }


def forget_missing_rejections(conn: duckdb.DuckDBPyConnection) -> int:
    """Drop quarantine rows of files that no longer exist (deleted or renamed)."""
    rows = conn.execute("select path, kind from etl.rejection").fetchall()
    gone = [
        path
        for path, kind in rows
        if kind not in REFUSED_KINDS  # rebuilt by every run's discovery (a path may be too long)
        and not os.path.lexists(real_name(path) if kind == "bad_file_name" else path)
    ]
    if gone:
        conn.execute(
            "delete from etl.rejection where path in (select unnest($gone))", {"gone": gone}
        )
    return len(gone)
