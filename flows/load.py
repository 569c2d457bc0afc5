"""Batches of rows -> DuckDB, one transaction per batch, bookkeeping in the etl schema."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.records import StageFailed

TABLES = ("provider", "article", "related", "image", "topic", "article_topic")
CHILD_TABLES = ("image", "related", "article_topic")
STAGE = "load"

# Newest publishedDateTime wins for a shared canonical URL (a NULL date loses); equal dates fall
# back to the larger sha256 so the winner never depends on file names or arrival order. A file
# whose own content changed always replaces what it loaded before.
_DECIDE = """
create or replace temp table _decision as
with ranked as (
    select
        stg_article.doc_index,
        stg_article.article_id,
        stg_article.published_at,
        stg_article.source_path,
        stg_article.source_sha256,
        row_number() over (
            partition by stg_article.article_id
            order by stg_article.published_at desc nulls last,
                stg_article.source_sha256 desc, stg_article.source_path desc
        ) as rank_in_batch
    from stg_article
)
select
    ranked.doc_index,
    ranked.article_id,
    case
        when ranked.rank_in_batch > 1 then 'superseded'
        when article.article_id is null then 'loaded'
        when article.source_sha256 = ranked.source_sha256 then 'unchanged'
        when article.source_path = ranked.source_path then 'loaded'
        when (coalesce(ranked.published_at, '-infinity'::timestamptz), ranked.source_sha256)
            > (coalesce(article.published_at, '-infinity'::timestamptz), article.source_sha256)
            then 'loaded'
        else 'superseded'
    end as decision
from ranked
left join article on article.article_id = ranked.article_id
"""

_UPSERT_PROVIDER = """
insert into provider
select provider_id, domain, name, name_observed_at
from stg_provider
qualify row_number() over (
    partition by provider_id
    order by name is not null desc, name_observed_at desc nulls last, name desc
) = 1
on conflict (provider_id) do update set
    name = excluded.name,
    domain = excluded.domain,
    name_observed_at = excluded.name_observed_at
where (excluded.name is not null,
       coalesce(excluded.name_observed_at, '-infinity'::timestamptz),
       coalesce(excluded.name, ''))
    > (provider.name is not null,
       coalesce(provider.name_observed_at, '-infinity'::timestamptz),
       coalesce(provider.name, ''))
"""

# The alphabetically first spelling of a topic is kept, so load order never matters.
_UPSERT_TOPIC = """
insert into topic
select topic_id, min(name) from stg_topic group by topic_id
on conflict (topic_id) do update set name = excluded.name
where excluded.name < topic.name
"""


@dataclass
class BatchResult:
    """What one batch did to the warehouse."""

    files: int = 0
    loaded: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    warnings: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        for name in ("files", "loaded", "unchanged", "superseded", "rejected", "warnings"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.inserted, other.inserted), (self.deleted, other.deleted)):
            for table, count in theirs.items():
                mine[table] = mine.get(table, 0) + count


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating its folder when writing)."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise StageFailed("connect", f"cannot open warehouse {path}: {exc}") from exc


def ensure_schema(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> None:
    """Create the warehouse and etl tables if they do not exist."""
    for ddl in sorted((sql_dir / "schema").glob("*.sql")):
        conn.execute(ddl.read_text(encoding="utf-8"))


def _columns(conn: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _affected(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> int:
    """Run a DML statement and return how many rows it touched."""
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def load_batch(
    conn: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], run_id: str
) -> BatchResult:
    """Merge one staged batch into the warehouse in a single transaction.

    A document replaces every row its article had (children included) when it wins; an identical
    document changes nothing, so a re-run leaves every table exactly as it was.
    """
    result = BatchResult(
        files=tables["article"].num_rows + tables["rejection"].num_rows,
        rejected=tables["rejection"].num_rows,
    )
    names = [f"stg_{name}" for name in tables]
    conn.execute("begin transaction")
    try:
        for name, table in tables.items():
            conn.register(f"stg_{name}", table)
        conn.execute(_DECIDE)
        for decision, count in conn.execute(
            "select decision, count(*) from _decision group by 1"
        ).fetchall():
            setattr(result, decision, int(count))
        replaced = "select article_id from _decision where decision = 'loaded'"
        for table in (*CHILD_TABLES, "article"):
            result.deleted[table] = _affected(
                conn, f"delete from {table} where article_id in ({replaced})"
            )
        conn.execute(f"delete from etl.warning where article_id in ({replaced})")
        result.inserted["provider"] = _affected(conn, _UPSERT_PROVIDER)
        result.inserted["topic"] = _affected(conn, _UPSERT_TOPIC)
        winners = "where doc_index in (select doc_index from _decision where decision = 'loaded')"
        for table in ("article", *CHILD_TABLES):
            cols = ", ".join(_columns(conn, table))
            result.inserted[table] = _affected(
                conn, f"insert into {table} ({cols}) select {cols} from stg_{table} {winners}"
            )
        result.warnings = _affected(
            conn,
            "insert into etl.warning select $run_id, article_id, path, field, message "
            f"from stg_warning {winners}",
            {"run_id": run_id},
        )
        _affected(
            conn,
            "insert into etl.rejection select $run_id, path, sha256, stage, reason, line, col, "
            "excerpt from stg_rejection",
            {"run_id": run_id},
        )
        conn.execute("commit")
    except Exception as exc:
        conn.execute("rollback")
        raise StageFailed(STAGE, f"batch rolled back: {exc}") from exc
    finally:
        for name in names:
            conn.unregister(name)
    return result


def start_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    sources: Iterable[str],
    flow_run_id: str | None = None,
) -> None:
    conn.execute(
        "insert into etl.run (run_id, flow_run_id, started_at, status, sources) "
        "values (?, ?, ?, 'running', ?)",
        [run_id, flow_run_id, dt.datetime.now(dt.UTC), list(sources)],
    )


def table_rows(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: _count(conn, f"select count(*) from {t}") for t in TABLES}


def finish_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    status: str,
    files_seen: int,
    result: BatchResult,
    seconds: dict[str, float],
    error: str | None = None,
) -> None:
    conn.execute(
        """
        update etl.run set
            finished_at = ?, status = ?, files_seen = ?, files_loaded = ?, files_unchanged = ?,
            files_superseded = ?, files_rejected = ?, warnings = ?, rows_inserted = ?,
            rows_deleted = ?, table_rows = ?, seconds = ?, error = ?
        where run_id = ?
        """,
        [
            dt.datetime.now(dt.UTC),
            status,
            files_seen,
            result.loaded,
            result.unchanged,
            result.superseded,
            result.rejected,
            result.warnings,
            json.dumps(result.inserted, sort_keys=True),
            json.dumps(result.deleted, sort_keys=True),
            json.dumps(table_rows(conn), sort_keys=True),
            json.dumps({k: round(v, 3) for k, v in seconds.items()}),
            error,
            run_id,
        ],
    )
