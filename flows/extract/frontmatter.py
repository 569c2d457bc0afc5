"""One file -> FrontMatter(path, sha256, data, body) or Rejection(path, stage, kind, reason)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import yaml

from flows.extract.safe_yaml import StrictSafeLoader, load_front_matter
from flows.records import FrontMatter, Rejection

SUFFIXES = frozenset({".txt", ".md", ".markdown"})
BOM = b"\xef\xbb\xbf"
STAGE = "extract"
SafeLoader = StrictSafeLoader

_EXCERPT_BYTES = 200


def read_file(path: str, max_bytes: int) -> tuple[bytes, int, int] | Rejection:
    """The bytes of one file with its size and mtime_ns; never blocks on a pipe."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return Rejection(path, STAGE, "not a regular file (a pipe, device or folder)",
                             kind="not_a_file")  # fmt: skip
        if info.st_size > max_bytes:
            return _too_large(path, max_bytes)
        with open(path, "rb") as handle:
            # Sized by stat: asking for max_bytes allocates (and frees) megabytes per file.
            raw = handle.read(info.st_size + 1)
            if len(raw) > info.st_size:  # it grew since stat: read on, up to the limit
                raw += handle.read(max_bytes + 1 - len(raw))
    except OSError as exc:
        return Rejection(
            path, STAGE, f"could not read file: {exc.strerror or exc}", kind="unreadable"
        )
    if len(raw) > max_bytes:
        return _too_large(path, max_bytes)
    return raw, info.st_size, info.st_mtime_ns


def read_document(path: Path | str, max_bytes: int) -> FrontMatter | Rejection:
    """Read, hash and parse one file; never raises for a bad file."""
    path_str = Path(path).as_posix()
    read = read_file(path_str, max_bytes)
    if isinstance(read, Rejection):
        return read
    return parse_document(path_str, read[0])


def _too_large(path: str, max_bytes: int) -> Rejection:
    return Rejection(
        path,
        STAGE,
        f"file is larger than the limit of {max_bytes} bytes "
        "(raise it with --max-file-bytes or NEWSFLOW_MAX_FILE_BYTES)",
        kind="too_large",
    )


def parse_document(path: str, raw: bytes) -> FrontMatter | Rejection:
    """Parse the bytes of one document into its front matter and body."""
    sha256 = hashlib.sha256(raw).hexdigest()

    def reject(
        kind: str, reason: str, line: int | None = None, col: int | None = None
    ) -> Rejection:
        return Rejection(path, STAGE, reason, line, col, sha256, excerpt(raw), kind)

    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    if not raw.strip():
        return reject("empty_file", "file is empty", 1, 1)
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        return reject("binary", "file looks binary (contains NUL bytes)", line, col)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return reject(
            "not_utf8",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            line,
            col,
        )
    if "\r" in text:
        text = text.replace("\r\n", "\n")

    try:
        yaml_text, body = split_front_matter(text)
    except FrontMatterMissing as exc:
        return reject(exc.kind, str(exc), exc.line, 1)
    try:
        data = load_front_matter(yaml_text)
    except yaml.MarkedYAMLError as exc:
        kind = getattr(exc, "kind", None) or _yaml_kind(exc)
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            return reject(kind, f"could not parse front matter: {problem}")
        if yaml_text[mark.index : mark.index + 1] == "\t":
            problem += " (a tab: YAML is indented with spaces)"
        opened = _OPENED.get(exc.context or "")
        if opened is None and exc.context == "while parsing a flow node":
            # libyaml names no opener here (e.g. '[a, b,' then the end): find the innermost
            # bracket still open where the error is, from the tokens before it.
            found = _open_bracket(yaml_text, mark.index)
            if found is not None:
                opened, exc.context_mark = found
        if opened and exc.context_mark is not None and exc.problem_mark is not None:
            # The error is found where the parser gave up (often lines later, at the next key
            # or the end); the line that opened the bracket or quote is the one to fix.
            problem += (
                f" at line {exc.problem_mark.line + 2}, column {exc.problem_mark.column + 1}, "
                f"inside the {opened} opened here"
            )
            mark = exc.context_mark
        # +2: mark lines are 0-based and the opening '---' is line 1 of the file.
        return reject(
            kind, f"could not parse front matter: {problem}", mark.line + 2, mark.column + 1
        )
    except yaml.YAMLError as exc:
        return reject("yaml_syntax", f"could not parse front matter: {exc}")
    except RecursionError:
        return reject("too_deep", "could not parse front matter: nesting is too deep")
    except (ValueError, TypeError, OverflowError) as exc:  # a value no constructor accepts
        return reject("yaml_value", f"could not parse front matter: {exc}")
    if data is None:
        return reject("empty_front_matter", "front matter is empty", 2, 1)
    if not isinstance(data, dict):
        return reject(
            "not_a_mapping",
            f"front matter is a {type(data).__name__}, not a mapping of keys",
            2,
            1,
        )
    return FrontMatter(path, sha256, data, body, yaml_text)


# Parser contexts whose mark is where a bracket or quote was opened (PyYAML's context_mark).
_OPENED = {
    "while parsing a flow sequence": "'[' list",
    "while parsing a flow mapping": "'{' mapping",
    "while scanning a quoted scalar": "quoted text",
}


def _open_bracket(text: str, before: int) -> tuple[str, yaml.Mark] | None:
    """The innermost '[' or '{' still open at offset ``before`` (what it is, and its mark), from
    PyYAML's scanner; None when there is none. Runs only on a document that failed."""
    stack: list[tuple[str, yaml.Mark]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= before:
                break
            if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken):
                is_list = isinstance(token, yaml.FlowSequenceStartToken)
                stack.append(("'[' list" if is_list else "'{' mapping", token.start_mark))
            elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and stack:
                stack.pop()
    except yaml.YAMLError:
        pass
    return stack[-1] if stack else None


def excerpt(raw: bytes) -> str:
    """The start of a file as the quarantine shows it."""
    return raw[:_EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\\0")


def _yaml_kind(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or ""
    if isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        return "yaml_tag"
    if isinstance(exc, yaml.constructor.ConstructorError):
        return "yaml_value"
    return "yaml_syntax"


class FrontMatterMissing(ValueError):
    def __init__(self, kind: str, reason: str, line: int) -> None:
        super().__init__(reason)
        self.kind = kind
        self.line = line


def _closing_line(text: str, newline: int) -> tuple[int, int] | None:
    """Start and end of the first line after the newline at ``newline`` that is exactly
    ``---`` plus blanks (str.find: a regex over the whole text costs ten times more)."""
    while True:
        hit = text.find("\n---", newline)
        if hit < 0:
            return None
        start = hit + 1
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        if not text[start + 3 : end].strip(" \t"):
            return start, end
        newline = end


def split_front_matter(text: str) -> tuple[str, str | None]:
    """Split ``---\\n<yaml>\\n---\\n<body>`` into the YAML text and the body (None when empty).

    Line endings must already be ``\\n``. Only a line that is exactly ``---`` (trailing blanks
    allowed) opens or closes the block, so ``---`` inside a value never ends it.
    """
    first_end = text.find("\n")
    first_line = text if first_end < 0 else text[:first_end]
    if first_line.rstrip(" \t") != "---":
        raise FrontMatterMissing(
            "no_front_matter", "no front matter: the first line must be '---'", 1
        )
    closing = None if first_end < 0 else _closing_line(text, first_end)
    if closing is None:
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise FrontMatterMissing(
            "unclosed_front_matter",
            "front matter is not closed: no closing '---' line",
            max(last_line, 1),
        )
    yaml_text = text[first_end + 1 : closing[0]]
    body = text[closing[1] + 1 :]
    return yaml_text, (body if body.strip() else None)
