"""Small value objects passed between stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class StageFailed(RuntimeError):
    """A hard failure of one stage (not a bad document: those become rejections)."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage} failed: {detail}")
        self.stage = stage
        self.detail = detail


class WarehouseNotFound(FileNotFoundError):
    """No warehouse at the path a command reads: the one wording every read command shows
    (``flows.analysis.warehouse.require_warehouse`` raises it; the CLI exits 1)."""

    def __init__(self, shown_path: str) -> None:
        super().__init__(f"warehouse not found: {shown_path} (load it first with newsflow run)")
        self.shown_path = shown_path


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """One document whose front matter parsed to a mapping."""

    path: str
    sha256: str
    data: dict[str, Any]
    body: str | None
    raw: str | None = None  # the front matter text as written (LF line endings)
    # Warnings of the parse itself, as (field, message): a duplicate key a profile let through.
    notes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """One document that could not be loaded, with where and why."""

    path: str
    stage: str
    reason: str
    line: int | None = None
    col: int | None = None
    sha256: str | None = None
    excerpt: str | None = None
    kind: str = "invalid"

    def location(self, display_path: str | None = None) -> str:
        where = display_path or self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return where

    def __str__(self) -> str:
        return f"{self.location()}: {self.reason}"


REJECTION_KINDS: tuple[str, ...] = (
    "empty_file", "binary", "not_utf8", "too_large", "unreadable", "not_a_file",
    "bad_file_name", "outside_source", "unreadable_folder", "no_front_matter",
    "unclosed_front_matter", "empty_front_matter", "not_a_mapping", "yaml_syntax", "yaml_tag",
    "yaml_value", "toml_syntax", "json_syntax", "not_an_article", "duplicate_key",
    "non_text_key", "too_deep", "recursive_alias", "no_url",
    "unstorable", "unexpected", "parser_crash",
)  # fmt: skip
"""Every kind of rejection newsflow gives (``newsflow rejections --kind`` accepts these and any
kind found in the quarantine); docs/contract.md explains each."""
