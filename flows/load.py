"""Batches of rows -> DuckDB, one transaction per batch, bookkeeping in the etl schema."""

from __future__ import annotations

import datetime as dt
import json
import os
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


_DRIFT = """
insert into etl.drift
select $run_id, key_path, observed_type, expected_type, count(distinct doc_index), min(path)
from stg_drift
group by key_path, observed_type, expected_type
"""

_QUARANTINE = """
insert into etl.rejection
select stg_rejection.path, $run_id, $run_id, stg_rejection.sha256, stg_rejection.stage,
    stg_rejection.kind, stg_rejection.reason, stg_rejection.line, stg_rejection.col,
    stg_rejection.excerpt
from stg_rejection
on conflict (path) do update set
    run_id = excluded.run_id, sha256 = excluded.sha256, stage = excluded.stage,
    kind = excluded.kind, reason = excluded.reason, line = excluded.line, col = excluded.col,
    excerpt = excluded.excerpt
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
    loaded_ids: list[str] = field(default_factory=list)
    displaced_ids: list[str] = field(default_factory=list)  # replaced a copy from another file

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
        result.loaded_ids = [r[0] for r in conn.execute(replaced).fetchall()]
        result.displaced_ids = [
            r[0]
            for r in conn.execute(
                "select article.article_id from article join _decision using (article_id) "
                "join stg_article using (doc_index) where _decision.decision = 'loaded' "
                "and article.source_path <> stg_article.source_path"
            ).fetchall()
        ]
        for table in (*CHILD_TABLES, "article"):
            result.deleted[table] = _affected(
                conn, f"delete from {table} where article_id in ({replaced})"
            )
        for table in ("etl.warning", "etl.front_matter"):
            conn.execute(f"delete from {table} where article_id in ({replaced})")
        result.inserted["provider"] = _affected(conn, _UPSERT_PROVIDER)
        result.inserted["topic"] = _affected(conn, _UPSERT_TOPIC)
        winners = "where doc_index in (select doc_index from _decision where decision = 'loaded')"
        for table in ("article", *CHILD_TABLES):
            cols = ", ".join(_columns(conn, table))
            result.inserted[table] = _affected(
                conn, f"insert into {table} ({cols}) select {cols} from stg_{table} {winners}"
            )
        conn.execute(
            "insert into etl.front_matter select article_id, source_path, source_sha256, "
            f"front_matter from stg_front_matter {winners}"
        )
        params = {"run_id": run_id}
        result.warnings = _affected(
            conn,
            "insert into etl.warning select $run_id, article_id, path, field, message "
            f"from stg_warning {winners}",
            params,
        )
        _affected(conn, _DRIFT, params)
        # The quarantine: a file that parsed leaves it; a rejected file enters or is refreshed.
        conn.execute(
            "delete from etl.rejection where path in (select source_path from stg_article)"
        )
        _affected(conn, _QUARANTINE, params)
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
    paths = [p for (p,) in conn.execute("select path from etl.rejection").fetchall()]
    gone = [p for p in paths if not os.path.lexists(p)]
    if gone:
        conn.execute(
            "delete from etl.rejection where path in (select unnest($gone))", {"gone": gone}
        )
    return len(gone)
