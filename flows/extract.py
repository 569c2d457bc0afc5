"""Files -> FrontMatter(path, sha256, data, body) or Rejection(path, stage, reason, line, col)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from flows.records import FrontMatter, Rejection, StageFailed

SUFFIXES = frozenset({".txt", ".md", ".markdown"})
BOM = b"\xef\xbb\xbf"
STAGE = "extract"

# The C loader is ~10x faster; both are *safe* loaders: no Python objects are ever constructed.
SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_DELIMITER = re.compile(r"^---[ \t]*$", re.MULTILINE)
_EXCERPT_CHARS = 200


def discover_files(sources: Iterable[Path | str]) -> list[Path]:
    """Every ``*.txt``, ``*.md`` and ``*.markdown`` under the sources, recursively, sorted, unique.

    A source may be a directory or a single file. Hidden files and folders (``.name``) are skipped.
    A source that does not exist is a hard failure: it is almost always a typo.
    """
    found: set[Path] = set()
    for source in sources:
        root = Path(source)
        if root.is_file():
            found.add(root.resolve())
            continue
        if not root.is_dir():
            raise StageFailed("discover", f"source not found: {root}")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in SUFFIXES:
                    found.add(Path(dirpath, name).resolve())
    return sorted(found, key=lambda p: p.as_posix())


def read_document(path: Path | str, max_bytes: int) -> FrontMatter | Rejection:
    """Read, hash and parse one file; never raises for a bad file."""
    path_str = Path(path).as_posix()
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        return Rejection(path_str, STAGE, f"could not read file: {exc.strerror or exc}")
    if len(raw) > max_bytes:
        return Rejection(
            path_str,
            STAGE,
            f"file is larger than the limit of {max_bytes} bytes "
            "(raise it with --max-file-bytes or NEWSFLOW_MAX_FILE_BYTES)",
        )
    return parse_document(path_str, raw)


def parse_document(path: str, raw: bytes) -> FrontMatter | Rejection:
    """Parse the bytes of one document into its front matter and body."""
    sha256 = hashlib.sha256(raw).hexdigest()

    def reject(reason: str, line: int | None = None, col: int | None = None) -> Rejection:
        excerpt = raw[:_EXCERPT_CHARS].decode("utf-8", errors="replace")
        return Rejection(path, STAGE, reason, line, col, sha256, excerpt)

    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return reject(f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line, col)
    if "\x00" in text:
        return reject("file looks binary (contains NUL bytes)", 1, 1)
    if "\r" in text:
        text = text.replace("\r\n", "\n")

    try:
        yaml_text, body = split_front_matter(text)
    except FrontMatterMissing as exc:
        return reject(str(exc), exc.line, 1)
    try:
        data = yaml.load(yaml_text, Loader=SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            return reject(f"could not parse front matter: {problem}")
        if yaml_text[mark.index : mark.index + 1] == "\t":
            problem += " (a tab: YAML is indented with spaces)"
        # +2: mark lines are 0-based and the opening '---' is line 1 of the file.
        return reject(f"could not parse front matter: {problem}", mark.line + 2, mark.column + 1)
    except yaml.YAMLError as exc:
        return reject(f"could not parse front matter: {exc}")
    except RecursionError:
        return reject("could not parse front matter: nesting is too deep")
    if data is None:
        return reject("front matter is empty", 2, 1)
    if not isinstance(data, dict):
        return reject(f"front matter is a {type(data).__name__}, not a mapping of keys", 2, 1)
    return FrontMatter(path, sha256, data, body)


class FrontMatterMissing(ValueError):
    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.line = line


def split_front_matter(text: str) -> tuple[str, str | None]:
    """Split ``---\\n<yaml>\\n---\\n<body>`` into the YAML text and the body (None when empty).

    Line endings must already be ``\\n``. Only a line that is exactly ``---`` (trailing blanks
    allowed) opens or closes the block, so ``---`` inside a value never ends it.
    """
    first_end = text.find("\n")
    first_line = text if first_end < 0 else text[:first_end]
    if first_line.rstrip(" \t") != "---":
        raise FrontMatterMissing("no front matter: the first line must be '---'", 1)
    if first_end < 0:
        raise FrontMatterMissing("front matter is not closed: no closing '---' line", 1)
    closing = _DELIMITER.search(text, first_end + 1)
    if closing is None:
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise FrontMatterMissing("front matter is not closed: no closing '---' line", last_line)
    yaml_text = text[first_end + 1 : closing.start()]
    body = text[closing.end() + 1 :]
    return yaml_text, (body if body.strip() else None)
