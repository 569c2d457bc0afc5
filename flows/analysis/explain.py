"""Read-side helpers for the quarantine: list rejections, explain what one file becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.analysis.warehouse import require_warehouse
from flows.db import connect, records
from flows.extract.frontmatter import read_document
from flows.normalize.document import DocumentRows, normalize_document
from flows.normalize.profile import Profile
from flows.records import Rejection


def list_rejections(warehouse: Path) -> list[dict[str, Any]]:
    """The quarantine: every file currently rejected, oldest path first (a missing warehouse
    raises :class:`~flows.records.WarehouseNotFound`: no false all-clear)."""
    conn = connect(require_warehouse(warehouse), read_only=True)
    try:
        return records(
            conn,
            "select path, line, col, stage, kind, reason, run_id, first_run_id, sha256 "
            "from etl.rejection order by path",
        )
    finally:
        conn.close()


@dataclass
class Explanation:
    """How one file was parsed, which rows it yields (or why not), and what the warehouse holds."""

    path: str
    rejection: Rejection | None = None
    keys: list[str] = field(default_factory=list)
    body_chars: int = 0
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    drift: list[tuple[str, str, str | None]] = field(default_factory=list)
    warehouse_state: str | None = None


def explain_file(
    path: Path, max_file_bytes: int, warehouse: Path | None, profile: Profile | None = None
) -> Explanation:
    """What ``path`` becomes (rows, or the rejection), and, when ``warehouse`` is given, what
    the warehouse holds of it; a ``warehouse`` given but missing raises ``WarehouseNotFound``.
    ``profile``: the source profile a run would apply (None: the default, nothing mapped)."""
    if warehouse is not None:
        require_warehouse(warehouse)
    resolved = path.resolve().as_posix()
    result = read_document(resolved, max_file_bytes, allow_empty=profile is not None)
    explanation = Explanation(resolved)
    if isinstance(result, Rejection):
        explanation.rejection = result
    else:
        explanation.keys = list(result.data)
        explanation.body_chars = len(result.body or "")
        mapped = result if profile is None else profile.apply(result)
        rows = mapped if isinstance(mapped, Rejection) else normalize_document(mapped)
        if isinstance(rows, Rejection):
            explanation.rejection = rows
        else:
            explanation.rows = _rows_by_table(rows)
            explanation.warnings = rows.warnings
            explanation.drift = rows.observations
    if warehouse is not None:
        explanation.warehouse_state = _warehouse_state(warehouse, explanation)
    return explanation


def _rows_by_table(rows: DocumentRows) -> dict[str, list[dict[str, Any]]]:
    return {
        "article": [rows.article],
        "provider": rows.providers,
        "related": rows.related,
        "image": rows.images,
        "topic": rows.topics,
        "article_topic": rows.article_topics,
    }


def _warehouse_state(warehouse: Path, explanation: Explanation) -> str:
    conn = connect(warehouse, read_only=True)
    try:
        quarantined = records(
            conn, "select reason, run_id from etl.rejection where path = ?", [explanation.path]
        )
        if quarantined:
            return f"quarantined by run {quarantined[0]['run_id']}: {quarantined[0]['reason']}"
        if not explanation.rows:
            return "not in the warehouse"
        article = explanation.rows["article"][0]
        loaded = records(
            conn,
            "select source_path, source_sha256 from article where article_id = ?",
            [article["article_id"]],
        )
    finally:
        conn.close()
    if not loaded:
        return f"not loaded yet (article_id {article['article_id']})"
    if loaded[0]["source_path"] != explanation.path:
        return (
            f"article_id {article['article_id']} is loaded from another file that wins: "
            f"{loaded[0]['source_path']}"
        )
    if loaded[0]["source_sha256"] != article["source_sha256"]:
        return "loaded from an earlier version of this file; the next run replaces it"
    return f"loaded as article_id {article['article_id']}, identical to this file"
