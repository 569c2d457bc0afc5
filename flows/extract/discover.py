"""Sources -> the files a run must consider: paths, sizes and mtimes as Arrow columns."""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from flows.extract.safe_yaml import StrictSafeLoader
from flows.records import StageFailed

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
    # Paths refused unread, as (path, kind, reason): links out of the sources (``outside_source``)
    # and folders that cannot be listed (``unreadable_folder``). See docs/sandbox.md.
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    # Links inside the sources that are not followed, as (path, reason); counted in ``ignored``:
    # a link to a folder, or to an article file the source lists under its own path.
    ignored_links: list[tuple[str, str]] = field(default_factory=list)

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


def check_sources(sources: Iterable[Path | str]) -> None:
    """Fail with ``StageFailed("discover", "source not found: ...")`` unless every source is a
    file or a folder: the check ``discover`` makes, for the CLI to make before a run starts."""
    for source in sources:
        if not (os.path.isfile(source) or os.path.isdir(source)):
            raise StageFailed("discover", f"source not found: {Path(source)}")


def discover(sources: Iterable[Path | str], also: Callable[[str], bool] | None = None) -> Discovery:
    """Article files under the sources, recursively, sorted and unique, with their size and mtime.

    A source may be a directory or a single file. Hidden files and folders (``.name``) and files
    with other suffixes are counted as ignored. A missing source is a hard failure (a typo).
    Symbolic links are listed under their own path, not their target's.

    Sources stay inside their roots (docs/sandbox.md): a link whose target resolves outside every
    source folder is not read but refused (kind ``outside_source``, with where it points). A
    link inside the sources is read only for what no other path reads, so no file is read twice
    and no loop is possible: a link to a folder is not followed, nor a link to an article file
    the sources list under its own path (both ignored, with the reason in ``ignored_links``); a
    link to any other file (another name or suffix, a hidden file) is listed like a file. A
    folder that cannot be listed (permissions, a path
    longer than the system allows) is refused (kind ``unreadable_folder``) and the rest of the
    source is read. Only links are resolved: plain entries cost no extra system call.

    ``also``: a test of a file's path that lists files of other suffixes too (a source
    profile's ``also_read``: ``.mdx`` posts, Jekyll's ``_posts/*.html``); hidden files never.
    """
    sources = list(sources)
    roots = [os.path.realpath(s) for s in sources if os.path.isdir(s)]
    refused: list[tuple[str, str, str]] = []
    ignored_links: list[tuple[str, str]] = []
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
            check_sources([root])
        stack = [os.path.abspath(root)]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                refused.append((folder, UNREADABLE_FOLDER, _unreadable(exc)))
                continue
            for entry in entries:
                hidden = entry.name.startswith(".")
                if not hidden and entry.is_symlink():
                    outside = _outside(entry.path, roots)
                    if outside is not None:
                        refused.append((entry.path, OUTSIDE_SOURCE, outside))
                        continue
                    twice = _read_elsewhere(entry.path, roots)
                    if twice is not None:
                        ignored_links.append((entry.path, twice))
                        ignored.add(entry.path)
                        continue
                if entry.is_dir(follow_symlinks=False):
                    if hidden:
                        ignored.update(_all_files(entry.path))
                    else:
                        stack.append(entry.path)
                elif not hidden and (
                    os.path.splitext(entry.name)[1].lower() in SUFFIXES
                    or (also is not None and also(entry.path))
                ):
                    found.add(entry.path, *_stat(entry))
                else:
                    ignored.add(entry.path)
    table, unnamed = found.finish()
    refused = sorted({shown_name(r[0]): (shown_name(r[0]), *r[1:]) for r in refused}.values())
    links = sorted(
        {shown_name(path): (shown_name(path), why) for path, why in ignored_links}.values()
    )
    if isinstance(ignored, _Tally) or not ignored:
        return Discovery(table, len(ignored), unnamed, refused, links)
    # A path both listed and ignored (overlapping sources) counts as listed.
    named = [path for path in ignored if _is_utf8(path)]
    listed = pc.sum(pc.is_in(_strings(named), value_set=table["path"])).as_py() or 0
    return Discovery(table, len(ignored) - listed, unnamed, refused, links)


OUTSIDE_SOURCE = "outside_source"
UNREADABLE_FOLDER = "unreadable_folder"
REFUSED_KINDS = (OUTSIDE_SOURCE, UNREADABLE_FOLDER)


def _read_elsewhere(link: str, roots: list[str]) -> str | None:
    """Why the link ``link`` (its target inside the sources) is not followed, else None: a
    folder (its files are listed under their own paths; following could only read them twice,
    or loop), or an article file discovery lists under its own path (not hidden, an article
    suffix)."""
    target = os.path.realpath(link)
    if os.path.isdir(target):
        return (
            f"a symbolic link to the folder {target}, inside the sources: not followed "
            "(its files are read under their own path)"
        )
    if not os.path.isfile(target) or os.path.splitext(target)[1].lower() not in SUFFIXES:
        return None
    for root in roots:
        if target.startswith(root.rstrip("/") + "/"):
            parts = target[len(root.rstrip("/")) + 1 :].split("/")
            if not any(part.startswith(".") for part in parts):
                return (
                    f"a symbolic link to {target}, which is read under its own path: not read twice"
                )
    return None


def _outside(link: str, roots: list[str]) -> str | None:
    """Why ``link`` is refused when its target resolves outside every root, else None."""
    target = os.path.realpath(link)
    for root in roots:
        if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
            return None
    return f"a symbolic link to {target}, outside the sources: not read"


def _unreadable(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"cannot list this folder ({reason}, errno {exc.errno}); its files were not read"


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
