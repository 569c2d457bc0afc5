"""One file -> FrontMatter(path, sha256, data, body) or Rejection(path, stage, kind, reason)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from flows.extract.formats import FormatError, load_json_prefix, load_toml
from flows.extract.safe_yaml import StrictSafeLoader, load_front_matter, strict_load
from flows.records import FrontMatter, Rejection

SUFFIXES = frozenset({".txt", ".md", ".markdown"})
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
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


def read_document(
    path: Path | str, max_bytes: int, allow_empty: bool = False, duplicate_keys: str = "reject"
) -> FrontMatter | Rejection:
    """Read, hash and parse one file; never raises for a bad file."""
    path_str = Path(path).as_posix()
    read = read_file(path_str, max_bytes)
    if isinstance(read, Rejection):
        return read
    return parse_document(path_str, read[0], allow_empty, duplicate_keys)


def _too_large(path: str, max_bytes: int) -> Rejection:
    return Rejection(
        path,
        STAGE,
        f"file is larger than the limit of {max_bytes} bytes "
        "(raise it with --max-file-bytes or NEWSFLOW_MAX_FILE_BYTES)",
        kind="too_large",
    )


def parse_document(
    path: str, raw: bytes, allow_empty: bool = False, duplicate_keys: str = "reject"
) -> FrontMatter | Rejection:
    """Parse the bytes of one document into its front matter and body. ``allow_empty`` (a
    source profile is in use): an empty block is an empty mapping, not a rejection (a profile
    may derive everything from the file's path, as Jekyll does for a post with ``---``
    ``---``), and blank lines before the opening line are skipped, as Hugo does; line numbers
    stay the file's. ``duplicate_keys="last"`` (a profile's choice): a repeated YAML key keeps
    its last value, with a warning naming it and its line, instead of rejecting the file."""
    sha256 = hashlib.sha256(raw).hexdigest()
    skipped = 0  # blank lines before the front matter (a profile only): added to every line

    def reject(
        kind: str, reason: str, line: int | None = None, col: int | None = None
    ) -> Rejection:
        line = line + skipped if line is not None else None
        return Rejection(path, STAGE, reason, line, col, sha256, excerpt(raw), kind)

    decoded = decode(raw)
    if isinstance(decoded, tuple):
        kind, reason, line, col = decoded
        return reject(kind, reason, line, col)
    text = decoded
    if allow_empty and text[:1] in ("\n", " ", "\t"):
        start = _leading_blank_lines(text)
        if start:
            skipped = text.count("\n", 0, start)
            text = text[start:]

    try:
        fmt, fm_text, body, first = split_any(text)
    except FrontMatterMissing as exc:
        return reject(exc.kind, str(exc), exc.line, exc.col)
    if fmt != "yaml":
        try:
            if fmt == "toml":
                data: Any = load_toml(fm_text)
            else:
                data, _ = load_json_prefix(fm_text)
        except FormatError as exc:
            where = (exc.line + first - 1, exc.col) if exc.line is not None else (None, None)
            return reject(exc.kind, f"could not parse {fmt.upper()} front matter: {exc.problem}",
                          *where)  # fmt: skip
        return _mapping(path, sha256, data, body, fm_text, reject, first, fmt, allow_empty)
    yaml_text = fm_text
    notes: tuple[tuple[str, str], ...] = ()
    try:
        try:
            data = load_front_matter(yaml_text)
        except yaml.MarkedYAMLError as exc:
            if duplicate_keys != "last" or getattr(exc, "kind", None) != "duplicate_key":
                raise
            found: list[tuple[str, int, int]] = []
            data = strict_load(yaml_text, duplicates=found)
            notes = tuple(
                (key, f"duplicate key {key!r:.60} at line {line + 2 + skipped}: its last value "
                      "is kept (profile: duplicate_keys = 'last')")
                for key, line, _ in found
            )  # fmt: skip
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
            at_line = exc.problem_mark.line + 2 + skipped
            problem += (
                f" at line {at_line}, column {exc.problem_mark.column + 1}, "
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
    return _mapping(path, sha256, data, body, yaml_text, reject, first, fmt, allow_empty, notes)


def _mapping(
    path: str,
    sha256: str,
    data: Any,
    body: str | None,
    raw: str,
    reject: Any,
    first: int,
    fmt: str,
    allow_empty: bool = False,
    notes: tuple[tuple[str, str], ...] = (),
) -> FrontMatter | Rejection:
    if data is None and allow_empty:
        return FrontMatter(path, sha256, {}, body, raw)
    if data is None or (fmt != "yaml" and data == {}):  # an empty block, '{}' or '+++' pair
        return reject("empty_front_matter", "front matter is empty", first, 1)
    if not isinstance(data, dict):
        return reject(
            "not_a_mapping",
            f"front matter is a {type(data).__name__}, not a mapping of keys",
            first,
            1,
        )
    return FrontMatter(path, sha256, data, body, raw, notes)


def _leading_blank_lines(text: str) -> int:
    """Where the first line that is not blank starts (0 when every line is blank)."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return start if text[start:].strip() else 0
        if text[start:end].strip(" \t"):
            return start
        start = end + 1


def decode(raw: bytes) -> str | tuple[str, str, int, int]:
    """The text of a file (UTF-8, or UTF-16 with its byte-order mark; a UTF-8 BOM dropped;
    CRLF as LF), or (kind, reason, line, column) when it is empty, binary or not text."""
    if raw.startswith(UTF16_BOMS):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            return (
                "not_utf8",
                f"file starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                f"(at byte {exc.start}); save it as UTF-8",
                1,
                1,
            )
        if not text.strip():
            return "empty_file", "file is empty", 1, 1
        return text.replace("\r\n", "\n") if "\r" in text else text
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    if not raw.strip():
        return "empty_file", "file is empty", 1, 1
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        return "binary", "file looks binary (contains NUL bytes)", line, col
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return (
            "not_utf8",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            line,
            col,
        )
    return text.replace("\r\n", "\n") if "\r" in text else text


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
    def __init__(self, kind: str, reason: str, line: int, col: int = 1) -> None:
        super().__init__(reason)
        self.kind = kind
        self.line = line
        self.col = col


_NO_FRONT_MATTER = (
    "no front matter: the first line must be '---' (YAML), '+++' (TOML) or start with '{' (JSON)"
)


def _closing_line(text: str, newline: int, fence: str = "---") -> tuple[int, int] | None:
    """Start and end of the first line after the newline at ``newline`` that is exactly
    ``fence`` plus blanks (str.find: a regex over the whole text costs ten times more)."""
    while True:
        hit = text.find("\n" + fence, newline)
        if hit < 0:
            return None
        start = hit + 1
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        if not text[start + len(fence) : end].strip(" \t"):
            return start, end
        newline = end


def _yaml_closing(text: str, newline: int) -> tuple[int, int] | None:
    """The first line that closes a YAML block: ``---`` or YAML's end-of-document ``...``."""
    dashes = _closing_line(text, newline, "---")
    if text.find("\n...", newline, dashes[0] if dashes else len(text)) < 0:
        return dashes
    dots = _closing_line(text, newline, "...")
    if dots is not None and (dashes is None or dots[0] < dashes[0]):
        return dots
    return dashes


def split_front_matter(text: str) -> tuple[str, str | None]:
    """Split ``---\\n<yaml>\\n---\\n<body>`` into the YAML text and the body (None when empty).

    Line endings must already be ``\\n``. Only a line that is exactly ``---`` or ``...``
    (trailing blanks allowed) closes the block, so ``---`` inside a value never ends it.
    """
    fmt, fm_text, body, _ = split_any(text)
    if fmt != "yaml":
        raise FrontMatterMissing("no_front_matter", _NO_FRONT_MATTER, 1)
    return fm_text, body


def split_any(text: str) -> tuple[str, str, str | None, int]:
    """(format, front matter text, body or None, the file line where the text starts).

    YAML between ``---`` and ``---`` or ``...``; TOML between ``+++`` lines; JSON when the
    first line starts with ``{``: the object ends where the JSON value ends (Hugo's rule).
    """
    first_end = text.find("\n")
    first_line = (text if first_end < 0 else text[:first_end]).rstrip(" \t")
    if first_line == "---":
        fmt, fence, what = "yaml", "---", "'---' or '...'"
        closing = None if first_end < 0 else _yaml_closing(text, first_end)
    elif first_line == "+++":
        fmt, fence, what = "toml", "+++", "'+++'"
        closing = None if first_end < 0 else _closing_line(text, first_end, fence)
    elif first_line.startswith("{"):
        try:
            _, end = load_json_prefix(text)
        except FormatError as exc:
            if exc.kind == "json_syntax":
                raise FrontMatterMissing(
                    "json_syntax", f"could not parse JSON front matter: {exc.problem}",
                    exc.line or 1, exc.col or 1,
                ) from None  # fmt: skip
            return "json", text, None, 1  # a limit: parse_document reports it with its kind
        rest = text[end:]
        newline = rest.find("\n")
        body = "" if newline < 0 else rest[newline + 1 :]
        return "json", text[:end], (body if body.strip() else None), 1
    else:
        raise FrontMatterMissing("no_front_matter", _NO_FRONT_MATTER, 1)
    if closing is None:
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise FrontMatterMissing(
            "unclosed_front_matter",
            f"front matter is not closed: no closing {what} line",
            max(last_line, 1),
        )
    fm_text = text[first_end + 1 : closing[0]]
    body = text[closing[1] + 1 :]
    return fmt, fm_text, (body if body.strip() else None), 2
