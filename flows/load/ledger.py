"""The file ledger (etl.file): decide before reading anything which files a run must look at.

- unchanged size and mtime (and the same contract version): skipped without being read;
- changed, new, or loaded under another contract version: read; when the sha256 is what the ledger
  holds the file is not parsed either;
- gone from disk (under this run's sources): deleted;
- a file that lost its URL to another file (superseded) is read again whenever the winner changes
  or disappears, so the documented winner holds whatever the order of changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import duckdb
import pyarrow as pa

from flows.db import registered
from flows.extract.discover import Discovery


class WorkList(Sequence[tuple[str, "str | None"]]):
    """The files a run reads, in path order, each with the sha256 the ledger knows (None: parse
    it whatever its hash). Arrow columns: a slice becomes Python tuples only when it is handed to
    a worker as a chunk. ``sizes`` are the discovered sizes (when the table has ``size``): the
    workers' chunks are cut by bytes as well as by files."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.select(["path", "sha256"])
        self.size_column = table["size"] if "size" in table.column_names else None

    @property
    def sizes(self) -> Iterator[int] | None:
        """The discovered size of each file in order (None when unknown), a few at a time."""
        if self.size_column is None:
            return None
        return (
            size
            for part in self.size_column.chunks
            for start in range(0, len(part), 4096)
            for size in part.slice(start, 4096).to_pylist()
        )

    def __len__(self) -> int:
        return self.table.num_rows

    @overload
    def __getitem__(self, index: int) -> tuple[str, str | None]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str | None]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[str, str | None] | list[tuple[str, str | None]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            part = self.table.slice(start, max(stop - start, 0))
            return list(zip(part["path"].to_pylist(), part["sha256"].to_pylist(), strict=True))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("WorkList index out of range")
        return self[index : index + 1][0]

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        for batch in self.table.to_batches(max_chunksize=4096):
            yield from zip(batch["path"].to_pylist(), batch["sha256"].to_pylist(), strict=True)


@dataclass
class Plan:
    """What a run will do with each discovered file."""

    work: Sequence[tuple[str, str | None]] = field(default_factory=list)  # (path, known sha256)
    skipped: list[str] = field(default_factory=list)  # unchanged and loaded
    still_superseded: list[str] = field(default_factory=list)  # unchanged, lost its URL before
    still_rejected: list[str] = field(default_factory=list)  # unchanged and in quarantine
    deleted: list[str] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)  # names not UTF-8: quarantined unread
    # refused unread by discovery (path, kind, reason): links out of the sources, bad folders
    refused: list[tuple[str, str, str]] = field(default_factory=list)


# Each discovered file against its ledger row. A file the ledger does not hold (or holds as
# deleted) is read; one whose size, mtime and contract version are unchanged is skipped unread
# (by its status: loaded, superseded or rejected); any other is read, with the sha256 the ledger
# knows when the contract version is the same (an unchanged hash is then not parsed again).
_PLAN_FILES = """
create or replace temp table _plan_file as
select
    found.path,
    found.size,
    ledger.status,
    ledger.article_id,
    case
        when ledger.status is null or ledger.status = 'deleted' then 'work'
        when ledger.contract_version = $version and found.size >= 0
            and found.size = ledger.size and found.mtime_ns = ledger.mtime_ns
            then case ledger.status
                when 'rejected' then 'still_rejected'
                when 'superseded' then 'still_superseded'
                else 'skipped'
            end
        else 'work'
    end as action,
    case when ledger.status <> 'deleted' and ledger.contract_version = $version
        then ledger.sha256 end as sha256
from _found as found
left join etl.file as ledger using (path)
"""

# Ledger files under this run's sources that are gone from disk.
_PLAN_DELETED = """
create or replace temp table _plan_deleted as
select ledger.path, ledger.status, ledger.article_id
from etl.file as ledger
where ledger.status <> 'deleted'
    and not exists (select 1 from _found where _found.path = ledger.path)
    and exists (
        select 1 from unnest($roots) as r(root)
        where ledger.path = r.root or starts_with(ledger.path, rtrim(r.root, '/') || '/')
    )
"""

# A file that lost its URL (superseded) competes again, parsed afresh, when the winner of that
# URL is read again or deleted in this run.
_PLAN_FORCED = """
update _plan_file set action = 'work', sha256 = null
where status = 'superseded' and article_id in (
    select article_id from _plan_file
    where action = 'work' and status = 'loaded' and article_id is not null
    union
    select article_id from _plan_deleted where status = 'loaded' and article_id is not null
)
"""


def plan_run(
    conn: duckdb.DuckDBPyConnection,
    found: Discovery,
    sources: list[str],
    contract_version: str,
) -> Plan:
    """Compare the discovered files with the ledger (in DuckDB: nothing per file is kept in
    Python but the lists of files skipped or deleted)."""
    roots = [os.path.abspath(s) for s in sources]
    with registered(conn, {"_found": found.table}):
        conn.execute(_PLAN_FILES, {"version": contract_version})
        conn.execute(_PLAN_DELETED, {"roots": roots})
    conn.execute(_PLAN_FORCED)
    work = conn.sql(
        "select path, sha256, size from _plan_file where action = 'work' order by path"
    ).to_arrow_table()
    unread = conn.execute(
        "select action, path from _plan_file where action <> 'work' order by path"
    ).fetchall()
    deleted = [p for (p,) in conn.execute("select path from _plan_deleted order by path")
               .fetchall()]  # fmt: skip
    conn.execute("drop table _plan_file; drop table _plan_deleted")
    plan = Plan(
        work=WorkList(work), deleted=deleted, unnamed=list(found.unnamed),
        refused=list(found.refused),
    )  # fmt: skip
    lists = {"skipped": plan.skipped, "still_superseded": plan.still_superseded,
             "still_rejected": plan.still_rejected}  # fmt: skip
    for action, path in unread:
        lists[action].append(path)
    return plan


def path_table(paths: list[str]) -> pa.Table:
    return pa.table({"path": pa.array(paths, pa.string())})
