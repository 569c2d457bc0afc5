"""Batches of rows -> DuckDB, one transaction per batch (rows + ledger together), bookkeeping in
the etl schema, and a final reconcile step for deletions.

Winner of a canonical URL: the newest ``publishedDateTime`` (a NULL date loses), then the larger
sha256, then the larger path, among every copy parsed in the run and the copy already loaded (when
its file was not read again). The decision is taken over the whole run, so it never depends on the
order files arrive in.

Streaming (:func:`begin_stream`, :func:`load_new_batch`, :func:`finish_stream`): batches are loaded
while the workers still parse. A document whose article_id is new to the warehouse and to the run
so far is loaded at once (on a cold run that is nearly every document); the others (an article the
warehouse already has, or a second copy of a URL in this run) are deferred and decided over the
whole run at the end by :func:`load_batch`, exactly as if nothing had been loaded early. A copy
loaded early that loses to a deferred one is replaced and its file marked superseded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from flows.db import registered, transaction
from flows.extract.discover import REFUSED_KINDS

TABLES = ("provider", "article", "related", "image", "topic", "article_topic")
CHILD_TABLES = ("image", "related", "article_topic")
ARTICLE_TABLES = ("article", *CHILD_TABLES)
KEYS = {
    "article": "article_id",
    "related": "related_id",
    "image": "image_id",
    "article_topic": "article_id || '/' || topic_id",
}
_EARLY = "select article_id from _run_candidates where not deferred"
STAGE = "load"

_RUN_WINNERS = """
create or replace temp table _run_winner as
select article_id, source_path
from _run_candidates
qualify row_number() over (
    partition by article_id
    order by published_at desc nulls last, source_sha256 desc, source_path desc
) = 1
"""

_DECIDE = """
create or replace temp table _decision as
select
    stg_article.doc_index,
    stg_article.article_id,
    stg_article.source_path,
    case
        when _run_winner.source_path <> stg_article.source_path then 'superseded'
        when article.article_id is null or article.deleted_at is not null then 'loaded'
        -- the loaded copy's file was read again (or deleted) in this run: the run's best decides
        when article.source_path in (select path from _run_paths) then 'loaded'
        when (coalesce(stg_article.published_at, '-infinity'::timestamptz),
              stg_article.source_sha256, stg_article.source_path)
            > (coalesce(article.published_at, '-infinity'::timestamptz),
               article.source_sha256, article.source_path)
            then 'loaded'
        else 'superseded'
    end as decision
from stg_article
inner join _run_winner on _run_winner.article_id = stg_article.article_id
left join article on article.article_id = stg_article.article_id
"""

# Streaming: load a document at once only when nothing else can claim its article_id so far.
_DECIDE_NEW = """
create or replace temp table _decision as
select
    doc_index,
    article_id,
    source_path,
    case
        when article_id in (select article_id from _existing)
            or article_id in (select article_id from _run_candidates)
            or count(*) over (partition by article_id) > 1
            then 'deferred'
        else 'loaded'
    end as decision
from stg_article
"""

_CANDIDATES = """
create temp table if not exists _run_candidates (
    article_id varchar, published_at timestamptz, source_sha256 varchar, source_path varchar,
    batch integer, doc_index integer, deferred boolean
)
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

# Files read in this batch: parsed ones take their decision, rejected ones keep the article they
# last loaded (its rows stay: the last good version is not lost to a broken edit).
_LEDGER = """
insert into etl.file
select
    stg_file.path, stg_file.size, stg_file.mtime_ns, stg_file.sha256, $version,
    coalesce(_decision.decision, 'rejected'), _decision.article_id, $now,
    case when _decision.decision = 'loaded' then $now end, $run_id
from stg_file
left join _decision on _decision.source_path = stg_file.path
where stg_file.outcome <> 'same' and _decision.decision is distinct from 'deferred'
on conflict (path) do update set
    size = excluded.size,
    mtime_ns = excluded.mtime_ns,
    sha256 = excluded.sha256,
    contract_version = excluded.contract_version,
    status = excluded.status,
    article_id = coalesce(excluded.article_id, etl.file.article_id),
    last_loaded_at = coalesce(excluded.last_loaded_at, etl.file.last_loaded_at),
    last_run_id = excluded.last_run_id
"""

_LEDGER_SAME = """
update etl.file set size = stg_file.size, mtime_ns = stg_file.mtime_ns, last_run_id = $run_id
from stg_file
where stg_file.path = etl.file.path and stg_file.outcome = 'same'
"""

_ORPHANS = """
select article.article_id
from article
inner join etl.file on etl.file.path = article.source_path
where article.deleted_at is null
    and (etl.file.status = 'deleted'
         or (etl.file.status in ('loaded', 'superseded')
             and etl.file.article_id <> article.article_id))
"""


UNNAMED_REASON = (
    "the file name is not valid UTF-8 (its stray bytes are shown as \\xNN): rename the file"
)


def _unnamed_rejections(
    shown: Sequence[str], refused: Sequence[tuple[str, str, str]] = ()
) -> pa.Table:
    """Files whose name is not UTF-8, as rows for the quarantine (:data:`_QUARANTINE`): under
    the name shown with ``\\xNN`` escapes, rejected unread by the discover stage; then the
    paths discovery refused unread (``refused``: path, kind, reason)."""
    rows = [(path, "bad_file_name", UNNAMED_REASON) for path in shown] + list(refused)
    count = len(rows)
    text, number = pa.string(), pa.int32()
    return pa.table({
        "path": pa.array([r[0] for r in rows], text), "sha256": pa.nulls(count, text),
        "stage": pa.array(["discover"] * count, text),
        "kind": pa.array([r[1] for r in rows], text),
        "reason": pa.array([r[2] for r in rows], text),
        "line": pa.nulls(count, number), "col": pa.nulls(count, number),
        "excerpt": pa.nulls(count, text),
    })  # fmt: skip


@dataclass
class BatchResult:
    """What one batch (or a whole load) did to the warehouse."""

    files: int = 0
    loaded: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    warnings: int = 0
    deferred: int = 0  # parsed, decided at the end of the run (streaming only)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    # Files of earlier runs whose article a file of this run took over (they are now superseded).
    displaced: list[str] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.displaced.extend(other.displaced)
        for name in ("files", "loaded", "unchanged", "superseded", "rejected", "warnings",
                     "deferred"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.inserted, other.inserted),
            (self.updated, other.updated),
            (self.deleted, other.deleted),
        ):
            for table, count in theirs.items():
                mine[table] = mine.get(table, 0) + count


def _columns(conn: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _count(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


_affected = _count  # a DML statement returns the number of rows it touched


def prepare_run(
    conn: duckdb.DuckDBPyConnection, candidates: pa.Table, deleted: Sequence[str]
) -> None:
    """Register the whole run's parsed copies (article_id, published_at, sha256, path) and the
    deleted paths, and pick the run's best copy of each canonical URL (every batch is then
    decided by :func:`load_batch`)."""
    _start_run(conn, deleted)
    with registered(conn, {"_candidates_arrow": candidates}):
        conn.execute(
            "insert into _run_candidates select article_id, published_at, source_sha256, "
            "source_path, null, null, true from _candidates_arrow"
        )
    _decide_winners(conn)


def _start_run(conn: duckdb.DuckDBPyConnection, deleted: Sequence[str]) -> None:
    """The run's bookkeeping tables: no candidates yet, the provider and topic keys before the
    run, and the paths found deleted."""
    conn.execute("drop table if exists _run_candidates")
    conn.execute(_CANDIDATES)
    conn.execute(_TOUCHED)
    gone = pa.table({"path": pa.array(list(deleted), pa.string())})
    with registered(conn, {"_deleted_arrow": gone}):
        conn.execute("create or replace temp table _deleted as from _deleted_arrow")


def _decide_winners(conn: duckdb.DuckDBPyConnection) -> None:
    """The run's best copy of each URL, and every path the run parsed or found deleted."""
    conn.execute(
        "create or replace temp table _run_paths as "
        "select source_path as path from _run_candidates union select path from _deleted"
    )
    conn.execute(_RUN_WINNERS)


_TOUCHED = """
create or replace temp table _prior_keys as
select 'provider' as tbl, provider_id as k from provider
union all
select 'topic', topic_id from topic;
create or replace temp table _run_touched (tbl varchar, k varchar);
"""


def _first_touches(
    conn: duckdb.DuckDBPyConnection, table: str, touched: list[str]
) -> tuple[int, int]:
    """(inserted, updated) of an upsert, counting each key once per run however many batches
    touch it: a key the warehouse did not have before the run is inserted, else updated."""
    params = {"tbl": table, "keys": touched}
    fresh = conn.execute(
        "select k, k in (select k from _prior_keys where tbl = $tbl) from unnest($keys) t(k) "
        "where k not in (select k from _run_touched where tbl = $tbl)",
        params,
    ).fetchall()
    if fresh:
        conn.execute(
            "insert into _run_touched select $tbl, unnest($keys)",
            {"tbl": table, "keys": [k for k, _ in fresh]},
        )
    updated = sum(1 for _, prior in fresh if prior)
    return len(fresh) - updated, updated


def begin_stream(conn: duckdb.DuckDBPyConnection, deleted: Sequence[str]) -> None:
    """Before the first batch of a streaming load: the article ids the warehouse already has
    (live or retired) and an empty list of the run's candidates."""
    conn.execute(
        "create or replace temp table _existing as select distinct article_id from article"
    )
    _start_run(conn, deleted)


def finish_stream(conn: duckdb.DuckDBPyConnection) -> dict[int, list[int]]:
    """After the last batch: decide every URL over the whole run; the deferred documents to
    load with :func:`load_batch`, as {batch: [doc_index, ...]}."""
    _decide_winners(conn)
    deferred: dict[int, list[int]] = {}
    for batch, doc_index in conn.execute(
        "select batch, doc_index from _run_candidates where deferred order by batch, doc_index"
    ).fetchall():
        deferred.setdefault(batch, []).append(doc_index)
    return deferred


def _settle_displaced(conn: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Files loaded early in this run whose article a deferred copy took over: superseded."""
    return _affected(
        conn,
        "update etl.file set status = 'superseded' from article "
        "where article.article_id = etl.file.article_id and etl.file.last_run_id = $run_id "
        "and etl.file.status = 'loaded' and article.source_path <> etl.file.path",
        {"run_id": run_id},
    )


def load_new_batch(
    conn: duckdb.DuckDBPyConnection,
    tables: dict[str, pa.Table],
    run_id: str,
    contract_version: str,
    batch: int,
) -> BatchResult:
    """Streaming: merge one batch while later ones are still being parsed. Documents of an
    article_id nobody else has claimed are loaded; the rest wait for :func:`finish_stream`."""
    return load_batch(conn, tables, run_id, contract_version, batch=batch)


def load_batch(
    conn: duckdb.DuckDBPyConnection,
    tables: dict[str, pa.Table],
    run_id: str,
    contract_version: str = "",
    *,
    batch: int | None = None,
) -> BatchResult:
    """Merge one staged batch into the warehouse in a single transaction, with its ledger rows.

    Call :func:`prepare_run` (or :func:`finish_stream`) first. A winning document replaces every
    row its article had (children included); a failure rolls the whole batch back. With
    ``batch`` (streaming, see :func:`load_new_batch`) only unclaimed article_ids are loaded.
    """
    result = BatchResult(files=tables["file"].num_rows)
    now = dt.datetime.now(dt.UTC)
    staged = {f"stg_{name}": table for name, table in tables.items()}
    with transaction(conn, STAGE, "batch", staged):
        if batch is None:
            conn.execute(_DECIDE)
        else:
            conn.execute(_DECIDE_NEW)
            conn.execute(
                "insert into _run_candidates select stg_article.article_id, published_at, "
                "source_sha256, stg_article.source_path, $batch, doc_index, "
                "decision = 'deferred' from stg_article join _decision using (doc_index)",
                {"batch": batch},
            )
        for decision, count in conn.execute(
            "select decision, count(*) from _decision group by 1"
        ).fetchall():
            setattr(result, decision, int(count))
        # A file whose content hash is unchanged was not parsed: it keeps its status.
        for status, count in conn.execute(
            "select etl.file.status, count(*) from stg_file join etl.file using (path) "
            "where stg_file.outcome = 'same' group by 1"
        ).fetchall():
            if status == "rejected":
                result.rejected += count
            else:
                result.unchanged += count
        result.rejected += tables["rejection"].num_rows
        replaced = "select article_id from _decision where decision = 'loaded'"
        # On a cold or growing warehouse most winners are new articles: skip the scans that only
        # matter when an existing article is rewritten.
        rewrites = _count(
            conn,
            "select count(*) from _decision join article using (article_id) "
            "where _decision.decision = 'loaded'",
        )
        result.displaced = (
            [
                path
                for (path,) in conn.execute(
                    "select article.source_path from article join _decision using (article_id) "
                    "where _decision.decision = 'loaded' and article.deleted_at is null "
                    "and article.source_path <> _decision.source_path "
                    "and article.source_path not in (select path from _run_paths)"
                ).fetchall()
            ]
            if rewrites
            else []
        )
        if result.displaced:
            conn.execute(
                "update etl.file set status = 'superseded', last_run_id = $run_id "
                "where path in (select unnest($paths))",
                {"run_id": run_id, "paths": result.displaced},
            )
        winners = "where doc_index in (select doc_index from _decision where decision = 'loaded')"
        for table in ARTICLE_TABLES:
            key = KEYS[table]
            old = kept = 0
            prior = 0
            if rewrites:
                # Rows of an article loaded early in this run count as inserted, not updated.
                conn.execute(
                    f"create or replace temp table _old as select {key} as k from {table} "
                    f"where article_id in ({replaced}) and article_id not in ({_EARLY})"
                )
                prior = _count(conn, "select count(*) from _old")
                old = _affected(conn, f"delete from {table} where article_id in ({replaced})")
            cols = ", ".join(c for c in _columns(conn, table) if c in tables[table].column_names)
            new = _affected(
                conn, f"insert into {table} ({cols}) select {cols} from stg_{table} {winners}"
            )
            if rewrites:
                kept = _count(conn, f"select count(*) from stg_{table} {winners} and {key} in "
                              "(select k from _old)")  # fmt: skip
            result.inserted[table] = new - kept - (old - prior)
            result.updated[table] = kept
            result.deleted[table] = prior - kept
        for table in ("etl.warning", "etl.front_matter") if rewrites else ():
            conn.execute(f"delete from {table} where article_id in ({replaced})")
        for table, upsert in (("provider", _UPSERT_PROVIDER), ("topic", _UPSERT_TOPIC)):
            touched = [k for (k,) in conn.execute(f"{upsert} returning {table}_id").fetchall()]
            result.inserted[table], result.updated[table] = _first_touches(conn, table, touched)
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
        conn.execute(
            "update etl.rejection set run_id = $run_id where path in "
            "(select path from stg_file where outcome = 'same')",
            params,
        )
        ledger = {"run_id": run_id, "now": now, "version": contract_version}
        conn.execute(_LEDGER, ledger)
        conn.execute(_LEDGER_SAME, params)
        if batch is None and rewrites:
            displaced = _settle_displaced(conn, run_id)
            result.loaded -= displaced
            result.superseded += displaced
    return result


def reconcile(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    deleted: Sequence[str],
    prune: bool,
    unnamed: Sequence[str] = (),
    refused: Sequence[tuple[str, str, str]] = (),
) -> dict[str, int]:
    """After the batches, in one transaction: mark deleted files, and retire articles whose
    file is gone or now yields another URL (soft delete: deleted_at; ``prune``: remove their
    rows, and those of every soft-deleted article). Files skipped unread keep their ledger row
    as it is, and rejected ones their quarantine row (its ``run_id`` stays the run that last
    read and rejected the file)."""
    now = dt.datetime.now(dt.UTC)
    removed: dict[str, int] = {}
    paths = {
        "_gone": pa.table({"path": pa.array(list(deleted), pa.string())}),
        "stg_rejection": _unnamed_rejections(unnamed, refused),
    }
    with transaction(conn, STAGE, "reconcile", paths):
        params = {"run_id": run_id}
        conn.execute(
            "update etl.file set status = 'deleted', last_run_id = $run_id "
            "where path in (from _gone)",
            params,
        )
        conn.execute("delete from etl.rejection where path in (from _gone)")
        # Refusals of discovery are found again by every run: those not found again go.
        conn.execute(
            "delete from etl.rejection where stage = 'discover' and kind in ? "
            "and path not in (select path from stg_rejection)",
            [list(REFUSED_KINDS)],
        )
        conn.execute(_QUARANTINE, params)
        orphans = f"select article_id from ({_ORPHANS})"
        removed["soft_deleted"] = _affected(
            conn, f"update article set deleted_at = $now where article_id in ({orphans})",
            {"now": now},
        )  # fmt: skip
        if prune:
            retired = "select article_id from article where deleted_at is not null"
            for table in (*CHILD_TABLES, "etl.warning", "etl.front_matter", "article"):
                removed[table] = _affected(
                    conn, f"delete from {table} where article_id in ({retired})"
                )
    return removed
