"""Files -> FrontMatter(path, sha256, data, body) or Rejection(path, stage, kind, reason, ...)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from flows.records import FrontMatter, Rejection, StageFailed
from flows.safe_yaml import StrictSafeLoader, load_front_matter

SUFFIXES = frozenset({".txt", ".md", ".markdown"})
BOM = b"\xef\xbb\xbf"
STAGE = "extract"
SafeLoader = StrictSafeLoader

_EXCERPT_BYTES = 200


@dataclass(frozen=True)
class Discovery:
    """The article files of a run, sorted by path, with their size and mtime_ns (-1 for a
    dangling link), and how many other files the sources held (other suffixes, hidden files:
    ignored).

    Held as Arrow columns (``path``, ``size``, ``mtime_ns``) for the whole run: as a Python list
    and dict they would cost about 260 bytes a file.
    """

    table: pa.Table
    ignored: int
    # Article files whose name is not valid UTF-8, as ``shown_name`` gives them: they cannot be
    # stored as text (the ledger, the quarantine, source_path), so they are quarantined unread.
    unnamed: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def paths(self) -> list[str]:
        return self.table.column("path").to_pylist()

    @property
    def files(self) -> list[Path]:
        return [Path(p) for p in self.paths]


def discover_files(sources: Iterable[Path | str]) -> list[Path]:
    """Every ``*.txt``, ``*.md`` and ``*.markdown`` under the sources (see :func:`discover`)."""
    return discover(sources).files


def discover(sources: Iterable[Path | str]) -> Discovery:
    """Article files under the sources, recursively, sorted and unique, with their size and mtime.

    A source may be a directory or a single file. Hidden files and folders (``.name``) and files
    with other suffixes are counted as ignored. A missing source is a hard failure (a typo).
    Symbolic links are listed under their own path, not their target's.
    """
    sources = list(sources)
    found = _Columns()
    # One source reaches no file twice, so its ignored files are only counted (a content folder
    # may hold far more images than articles); several sources may overlap, so their ignored
    # paths are kept to count each once.
    ignored: set[str] | _Tally = set() if len(sources) > 1 else _Tally()
    for source in sources:
        root = Path(source)
        if root.is_file():
            info = root.stat()
            found.add(os.path.abspath(root), info.st_size, info.st_mtime_ns)
            continue
        if not root.is_dir():
            raise StageFailed("discover", f"source not found: {root}")
        stack = [os.path.abspath(root)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    hidden = entry.name.startswith(".")
                    if entry.is_dir(follow_symlinks=False):
                        if hidden:
                            ignored.update(_all_files(entry.path))
                        else:
                            stack.append(entry.path)
                    elif not hidden and os.path.splitext(entry.name)[1].lower() in SUFFIXES:
                        found.add(entry.path, *_stat(entry))
                    else:
                        ignored.add(entry.path)
    table, unnamed = found.finish()
    if isinstance(ignored, _Tally) or not ignored:
        return Discovery(table, len(ignored), unnamed)
    # A path both listed and ignored (overlapping sources) counts as listed.
    named = [path for path in ignored if _is_utf8(path)]
    listed = pc.sum(pc.is_in(_strings(named), value_set=table["path"])).as_py() or 0
    return Discovery(table, len(ignored) - listed, unnamed)


class _Tally:
    """Counts the paths given to it, as a set would, keeping none of them."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, _path: str) -> None:
        self.count += 1

    def update(self, paths: Iterable[str]) -> None:
        self.count += sum(1 for _ in paths)

    def __len__(self) -> int:
        return self.count


class _Columns:
    """Discovered files gathered straight into the buffers of Arrow columns (about 20 bytes a
    file beside its path's), sorted by path and deduplicated at the end.

    The columns are built from raw buffers on purpose: converting Python lists (``pa.array``)
    makes pyarrow import pandas, 0.35-0.5 s on the serial head of every run.
    """

    _BATCH = 65536  # files per buffer: far from the 2 GiB a string column's offsets can address

    def __init__(self) -> None:
        self.parts: list[pa.RecordBatch] = []
        self.unnamed: set[str] = set()
        self._start()

    def _start(self) -> None:
        self.data = bytearray()
        self.offsets = array("i", [0])
        self.sizes = array("q")
        self.mtimes = array("q")

    def add(self, path: str, size: int, mtime_ns: int) -> None:
        try:
            self.data += path.encode("utf-8")
        except UnicodeEncodeError:  # bytes the file system name holds that are not UTF-8
            self.unnamed.add(shown_name(path))
            return
        self.offsets.append(len(self.data))
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)
        if len(self.sizes) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        count = len(self.sizes)
        paths = _string_array(self.offsets, bytes(self.data))
        sizes = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(self.sizes)])
        mtimes = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(self.mtimes)])
        self.parts.append(
            pa.RecordBatch.from_arrays([paths, sizes, mtimes], names=["path", "size", "mtime_ns"])
        )
        self._start()

    def finish(self) -> tuple[pa.Table, list[str]]:
        """The files sorted by path, each once, and the shown names of the unnamed ones."""
        self._flush()
        table = pa.Table.from_batches(self.parts).sort_by("path").combine_chunks()
        paths = table["path"]
        if len(table) > 1:  # the same file reached through two sources: keep one row
            repeated = pc.equal(paths.slice(1), paths.slice(0, len(table) - 1))
            if pc.any(repeated).as_py():
                first = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x01")])
                keep = pa.concat_arrays([first, pc.invert(repeated).combine_chunks()])
                table = table.filter(keep)
        return table, sorted(self.unnamed)


def _strings(values: list[str]) -> pa.StringArray:
    """A string column built from raw buffers (see :class:`_Columns`)."""
    encoded = [value.encode("utf-8") for value in values]
    return _string_array(array("i", accumulate(map(len, encoded), initial=0)), b"".join(encoded))


def _string_array(offsets: array, data: bytes) -> pa.StringArray:
    """UTF-8 ``data`` cut at ``offsets`` (one more than the strings) as an Arrow string column."""
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system name holds that are not UTF-8
        return False
    return True


def shown_name(path: str) -> str:
    """A file name that is not valid UTF-8, as text: its stray bytes written ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def real_name(shown: str) -> str:
    """The file name :func:`shown_name` wrote (to check that the file still exists)."""
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), shown.encode("utf-8"))
    return os.fsdecode(raw)


def _stat(entry: os.DirEntry[str]) -> tuple[int, int]:
    try:
        info = entry.stat()
    except OSError:  # a dangling link: listed, and rejected as unreadable when read
        return (-1, -1)
    return (info.st_size, info.st_mtime_ns)


def _all_files(folder: str) -> Iterable[str]:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            yield os.path.join(dirpath, name)


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
        excerpt = raw[:_EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\\0")
        return Rejection(path, STAGE, reason, line, col, sha256, excerpt, kind)

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
