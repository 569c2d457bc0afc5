"""Read-side helpers for the quarantine: list rejections, explain what one file becomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.analysis.warehouse import require_warehouse
from flows.db import connect, records
from flows.extract.frontmatter import read_document
from flows.normalize.document import DocumentRows, normalize_document
from flows.normalize.profile import Profile
from flows.records import REJECTION_KINDS, Rejection


def list_rejections(warehouse: Path, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The quarantine: every file currently rejected (only those of ``kinds`` when given), by
    path (a missing warehouse raises :class:`~flows.records.WarehouseNotFound`: no false
    all-clear). A kind that is neither one newsflow gives (``REJECTION_KINDS``) nor one in
    the quarantine raises :class:`UnknownKind`."""
    conn = connect(require_warehouse(warehouse), read_only=True)
    try:
        if kinds:
            rows = conn.execute("select distinct kind from etl.rejection").fetchall()
            present = {kind for (kind,) in rows}
            known = sorted(set(REJECTION_KINDS) | present)
            unknown = [kind for kind in kinds if kind not in known]
            if unknown:
                raise UnknownKind(unknown, known)
        return records(
            conn,
            "select path, line, col, stage, kind, reason, run_id, first_run_id, sha256 "
            "from etl.rejection where $all or list_contains($kinds, kind) order by path",
            {"all": not kinds, "kinds": list(kinds or [])},
        )
    finally:
        conn.close()


class UnknownKind(ValueError):
    """``--kind`` names a kind newsflow never gives: a usage error that lists the known ones."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"unknown rejection kind {', '.join(unknown)} (known: {', '.join(known)})")
        self.unknown = list(unknown)
        self.known = list(known)


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
    context: list[str] = field(default_factory=list)
    hint: str | None = None


def explain_file(
    path: Path, max_file_bytes: int, warehouse: Path | None, profile: Profile | None = None
) -> Explanation:
    """What ``path`` becomes (rows, or the rejection), and, when ``warehouse`` is given, what
    the warehouse holds of it; a ``warehouse`` given but missing raises ``WarehouseNotFound``.
    ``profile``: the source profile a run would apply (None: the default, nothing mapped)."""
    if warehouse is not None:
        require_warehouse(warehouse)
    resolved = path.resolve().as_posix()
    result = read_document(
        resolved, max_file_bytes, allow_empty=profile is not None,
        duplicate_keys=profile.duplicate_keys if profile is not None else "reject",
    )  # fmt: skip
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
    if explanation.rejection is not None:
        explanation.context = source_context(resolved, explanation.rejection)
        explanation.hint = HINTS.get(explanation.rejection.kind)
    if warehouse is not None:
        explanation.warehouse_state = _warehouse_state(warehouse, explanation)
    return explanation


# What to do about a rejection, by kind (``newsflow explain`` prints it under the reason).
HINTS: dict[str, str] = {
    "yaml_syntax": "fix the YAML at the caret: close the bracket or quote opened there, indent "
    "with spaces, or quote a value that contains ': ' or starts with a special character",
    "yaml_value": "quote the value to keep it as text, or correct it (e.g. a real date)",
    "yaml_tag": "remove the tag ('!...'): tags that build objects are refused, never run",
    "duplicate_key": "keep one of the two keys: YAML would silently keep only the last",
    "non_text_key": "quote the key: keys must be text",
    "too_deep": "flatten the nesting (at most 50 levels)",
    "recursive_alias": "remove the alias that refers to its own anchor",
    "no_front_matter": "start the file with a line '---', then the YAML, then a line '---'",
    "unclosed_front_matter": "add a line '---' after the last line of the front matter",
    "empty_front_matter": "add at least webUrl between the two '---' lines",
    "not_a_mapping": "write the front matter as 'key: value' lines",
    "no_url": "add webUrl (or originalUrl): an article is identified by its URL",
    "not_utf8": "save the file as UTF-8",
    "too_large": "raise --max-file-bytes (NEWSFLOW_MAX_FILE_BYTES), or shrink the file",
}

_CONTEXT_LINES = 2


def source_context(path: str, rejection: Rejection, around: int = _CONTEXT_LINES) -> list[str]:
    """The file's lines around the rejection's line, numbered, with a caret under its column
    (nothing when the rejection has no line or the file cannot be read as text)."""
    if rejection.line is None:
        return []
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_CONTEXT_BYTES)
    except OSError:
        return []
    lines = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    if len(lines) > 1 and lines[-1] == "":  # the final line break ends the last line
        lines.pop()
    first = max(rejection.line - around, 1)
    last = min(rejection.line + around, len(lines))
    width = len(str(last))
    shown: list[str] = []
    col = (rejection.col or 1) - 1
    # A long line is shown as a window around the column (the same window on every line).
    start = max(col - _WIDTH // 2, 0) if col >= _WIDTH else 0
    for number in range(first, last + 1):
        text = lines[number - 1].replace("\t", "→").replace("\x00", "\\0")
        cut = ("…" if start and len(text) > start else "") + text[start : start + _WIDTH]
        if len(text) > start + _WIDTH:
            cut += "…"
        shown.append(f"{number:>{width}} | {cut}".rstrip())
        if number == rejection.line and rejection.col is not None:
            shown.append(f"{'':>{width}} | {' ' * (col - start + (1 if start else 0))}^")
    return shown


_WIDTH = 100


_CONTEXT_BYTES = 4 * 1024 * 1024


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
