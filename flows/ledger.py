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
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from flows.extract import Discovery


@dataclass
class Plan:
    """What a run will do with each discovered file."""

    work: list[tuple[str, str | None]] = field(default_factory=list)  # (path, known sha256)
    skipped: list[str] = field(default_factory=list)  # unchanged and loaded
    still_superseded: list[str] = field(default_factory=list)  # unchanged, lost its URL before
    still_rejected: list[str] = field(default_factory=list)  # unchanged and in quarantine
    deleted: list[str] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)  # names not UTF-8: quarantined unread

    @property
    def unread(self) -> list[str]:
        """Every file skipped without reading."""
        return [*self.skipped, *self.still_superseded, *self.still_rejected]


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def plan_run(
    conn: duckdb.DuckDBPyConnection,
    found: Discovery,
    sources: list[str],
    contract_version: str,
) -> Plan:
    """Compare the discovered files with the ledger."""
    ledger = conn.execute(
        "select path, size, mtime_ns, sha256, contract_version, status, article_id from etl.file"
    ).fetchall()
    known = {row[0]: row[1:] for row in ledger}
    plan = Plan(unnamed=list(found.unnamed))
    changed_winners: set[str] = set()
    for path in found.paths:
        entry = known.get(path)
        if entry is None or entry[4] == "deleted":
            plan.work.append((path, None))
            continue
        size, mtime, sha, version, status, article_id = entry
        same_version = version == contract_version
        if same_version and (size, mtime) == found.stats[path] and size >= 0:
            {"rejected": plan.still_rejected, "superseded": plan.still_superseded}.get(
                status, plan.skipped
            ).append(path)
            continue
        plan.work.append((path, sha if same_version else None))
        if status == "loaded" and article_id:
            changed_winners.add(article_id)
    roots = [os.path.abspath(s) for s in sources]
    present = set(found.stats)
    for path, entry in known.items():
        if entry[4] != "deleted" and path not in present and _under(path, roots):
            plan.deleted.append(path)
            if entry[4] == "loaded" and entry[5]:
                changed_winners.add(entry[5])
    if changed_winners:
        # Losers of a URL whose winner changed or went away compete again, parsed afresh.
        forced = {
            path
            for path, entry in known.items()
            if entry[4] == "superseded" and entry[5] in changed_winners and path in present
        }
        plan.still_superseded = [p for p in plan.still_superseded if p not in forced]
        plan.work = [(p, None if p in forced else sha) for p, sha in plan.work]
        queued = {p for p, _ in plan.work}
        plan.work += [(p, None) for p in sorted(forced - queued)]
        plan.work.sort()
    return plan


def path_table(paths: list[str]) -> pa.Table:
    return pa.table({"path": pa.array(paths, pa.string())})
