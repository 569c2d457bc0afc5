"""Parallel extract+normalize of file chunks into columnar (Arrow IPC) staging batches.

Each worker process reads, hashes, parses and normalizes one chunk of files and writes the rows
of every table as Arrow IPC files into ``<staging>/<batch>/``; only a small summary crosses the
process boundary. The load stage then reads each batch back (memory-mapped) and merges it in
one transaction. Memory stays flat however large the corpus is.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from flows.extract.frontmatter import excerpt, parse_document, read_file
from flows.normalize.document import DocumentRows, normalize_document
from flows.normalize.profile import Profile
from flows.records import Rejection

T = TypeVar("T")
# Test-only: a worker kills itself with SIGSEGV on a file containing these bytes, to test the
# crash rule with a real signal (read once, when a worker process imports this module).
_CRASH_ON = os.environ.get("NEWSFLOW_TEST_CRASH_ON", "").encode()
# The exit code of an isolated chunk process that failed with a Python error (not a crash).
_ERROR_EXIT = 70
# Files per worker task: small enough to balance the workers and keep each one's memory low; the
# load merges several of them per transaction (``batch_size`` documents).
CHUNK_FILES = 1000
# Source bytes per worker task (docs/memory.md): a chunk is cut at CHUNK_FILES files or at this
# many bytes, whichever comes first (a single larger file is a chunk of its own). A worker holds
# one chunk's documents as Python objects at once, several times their size on disk, so this
# bounds a worker's memory whatever the corpus: a normal chunk of 1,000 files is about 4 MB.
CHUNK_BYTES = 16 * 2**20
# Chunks queued for the workers beyond the ones they parse (see stage_files).
QUEUED_CHUNKS = 32
TS = pa.timestamp("us", tz="UTC")
S = pa.string()
I32 = pa.int32()

# Staging schemas: the table's columns plus ``doc_index`` (position of the document in its
# batch) so the load can pick one winner per article_id with all of its child rows.
SCHEMAS: dict[str, pa.Schema] = {
    "article": pa.schema(
        [
            ("doc_index", I32), ("article_id", S), ("canonical_url", S), ("title", S),
            ("excerpt", S), ("category", S), ("type", S), ("published_at", TS),
            ("original_url", S), ("web_url", S), ("amp_web_url", S), ("cdn_amp_web_url", S),
            ("quality", I32), ("heat", I32), ("is_published", pa.bool_()), ("provider_id", S),
            ("secured", S), ("body", S), ("extra", S), ("source_path", S), ("source_sha256", S),
        ]
    ),
    "provider": pa.schema(
        [("doc_index", I32), ("provider_id", S), ("domain", S), ("name", S),
         ("name_observed_at", TS)]
    ),
    "image": pa.schema(
        [
            ("doc_index", I32), ("image_id", S), ("article_id", S), ("related_id", S),
            ("position", I32), ("url", S), ("width", I32), ("height", I32),
            ("is_cached", pa.bool_()), ("extra", S),
        ]
    ),
    "related": pa.schema(
        [
            ("doc_index", I32), ("related_id", S), ("article_id", S), ("position", I32),
            ("related_article_id", S), ("title", S), ("excerpt", S), ("published_at", TS),
            ("original_url", S), ("web_url", S), ("amp_web_url", S), ("cdn_amp_web_url", S),
            ("type", S), ("provider_id", S), ("quality", I32), ("extra", S),
        ]
    ),
    "topic": pa.schema([("doc_index", I32), ("topic_id", S), ("name", S)]),
    "article_topic": pa.schema(
        [("doc_index", I32), ("article_id", S), ("topic_id", S), ("position", I32)]
    ),
    "rejection": pa.schema(
        [("path", S), ("sha256", S), ("stage", S), ("kind", S), ("reason", S), ("line", I32),
         ("col", I32), ("excerpt", S)]
    ),
    "front_matter": pa.schema(
        [("doc_index", I32), ("article_id", S), ("source_path", S), ("source_sha256", S),
         ("front_matter", S)]
    ),
    # One row per file read: what the ledger (etl.file) records. outcome: parsed | rejected |
    # same (content hash unchanged: not parsed at all).
    "file": pa.schema(
        [("path", S), ("size", pa.int64()), ("mtime_ns", pa.int64()), ("sha256", S),
         ("outcome", S)]
    ),
    "drift": pa.schema(
        [("doc_index", I32), ("path", S), ("key_path", S), ("observed_type", S),
         ("expected_type", S)]
    ),
    "warning": pa.schema(
        [("doc_index", I32), ("path", S), ("article_id", S), ("field", S), ("message", S)]
    ),
}  # fmt: skip

_CHILDREN = {
    "provider": "providers",
    "image": "images",
    "related": "related",
    "topic": "topics",
    "article_topic": "article_topics",
}


@dataclass(frozen=True)
class ChunkSummary:
    batch_dir: str
    files: int
    documents: int
    rejected: int
    warnings: int
    bytes: int = 0  # the staged Arrow tables' size: what the load holds to merge the batch


@dataclass(frozen=True, slots=True)
class FileRead:
    """What reading one file found, for the ledger."""

    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    outcome: str  # parsed | rejected | same


def build_tables(
    results: Sequence[DocumentRows | Rejection], files: Sequence[FileRead] = ()
) -> dict[str, pa.Table]:
    """Columnar tables (staging shape) for one batch of per-document results."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
    docs: dict[str, list[int]] = {name: [] for name in SCHEMAS}
    rows["file"] = [
        {"path": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "sha256": f.sha256,
         "outcome": f.outcome}
        for f in files
    ]  # fmt: skip
    for doc_index, result in enumerate(results):
        if isinstance(result, Rejection):
            rows["rejection"].append(
                {
                    "path": result.path,
                    "sha256": result.sha256,
                    "stage": result.stage,
                    "kind": result.kind,
                    "reason": result.reason,
                    "line": result.line,
                    "col": result.col,
                    "excerpt": result.excerpt,
                }
            )
            continue
        article = result.article
        path, article_id = article["source_path"], article["article_id"]
        rows["article"].append(article)
        docs["article"].append(doc_index)
        for table, attr in _CHILDREN.items():
            children = getattr(result, attr)
            rows[table].extend(children)
            docs[table].extend([doc_index] * len(children))
        rows["front_matter"].append(
            {"article_id": article_id, "source_path": path,
             "source_sha256": article["source_sha256"], "front_matter": result.front_matter}
        )  # fmt: skip
        docs["front_matter"].append(doc_index)
        for key_path, observed, expected in result.observations:
            rows["drift"].append({"path": path, "key_path": key_path, "observed_type": observed,
                                  "expected_type": expected})  # fmt: skip
            docs["drift"].append(doc_index)
        for field_name, message in result.warnings:
            rows["warning"].append({"path": path, "article_id": article_id, "field": field_name,
                                    "message": message})  # fmt: skip
            docs["warning"].append(doc_index)
    return {name: _table(SCHEMAS[name], rows[name], docs[name]) for name in SCHEMAS}


def _table(schema: pa.Schema, rows: list[dict[str, Any]], doc_index: list[int]) -> pa.Table:
    """Rows -> table; ``doc_index`` is added as a column (no per-row dict copies)."""
    if schema.names[0] != "doc_index":
        return pa.Table.from_pylist(rows, schema=schema)
    table = pa.Table.from_pylist(rows, schema=schema.remove(0))
    return table.add_column(0, schema.field(0), pa.array(doc_index, I32))


def process_file(
    path: str,
    max_file_bytes: int,
    known_sha256: str | None = None,
    profile: Profile | None = None,
) -> tuple[FileRead, DocumentRows | Rejection | None]:
    """Read, extract and normalize one file; any unexpected error becomes a rejection.

    When the content hash equals ``known_sha256`` the file is not parsed at all (result None).
    """
    size = mtime = sha = None
    try:
        read = read_file(path, max_file_bytes)
        if isinstance(read, Rejection):
            return FileRead(path, None, None, None, "rejected"), read
        raw, size, mtime = read
        sha = hashlib.sha256(raw).hexdigest()
        if sha == known_sha256:
            return FileRead(path, size, mtime, sha, "same"), None
        if _CRASH_ON and _CRASH_ON in raw:
            os.kill(os.getpid(), signal.SIGSEGV)
        doc = parse_document(
            path, raw, allow_empty=profile is not None,
            duplicate_keys=profile.duplicate_keys if profile is not None else "reject",
        )  # fmt: skip
        if profile is not None and not isinstance(doc, Rejection):
            doc = profile.apply(doc)
        result = doc if isinstance(doc, Rejection) else normalize_document(doc)
    except Exception as exc:  # one bad file must never stop the run
        result = Rejection(
            path, "normalize", f"unexpected {type(exc).__name__}: {exc}"[:500], sha256=sha,
            kind="unexpected",
        )  # fmt: skip
    outcome = "rejected" if isinstance(result, Rejection) else "parsed"
    return FileRead(path, size, mtime, sha, outcome), result


def crashed_file(path: str, max_file_bytes: int, reason: str) -> tuple[FileRead, Rejection]:
    """The quarantine row of a file the parser crashed on: read and hashed, never parsed again."""
    read = read_file(path, max_file_bytes)
    if isinstance(read, Rejection):
        return FileRead(path, None, None, None, "rejected"), read
    raw, size, mtime = read
    sha = hashlib.sha256(raw).hexdigest()
    rejection = Rejection(path, "extract", reason, sha256=sha, excerpt=excerpt(raw),
                          kind="parser_crash")  # fmt: skip
    return FileRead(path, size, mtime, sha, "rejected"), rejection


def _arrow_safe(result: DocumentRows | Rejection) -> DocumentRows | Rejection:
    if isinstance(result, Rejection):
        return result
    try:
        build_tables([result])
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        return Rejection(
            result.article["source_path"], "normalize", f"a value cannot be stored: {exc}"[:500],
            sha256=result.article["source_sha256"], kind="unstorable",
        )  # fmt: skip
    return result


def chunk_tables(
    items: Sequence[tuple[str, str | None]],
    max_file_bytes: int,
    *,
    cursor: int | None = None,
    crashed: Mapping[int, str] | None = None,
    profile: Profile | None = None,
) -> dict[str, pa.Table]:
    """Read, parse and normalize one chunk of (path, known sha256) into its staging tables.

    Pure (no side effects besides reading the files), so it runs the same on a local worker
    process or on a remote Dask worker; a document Arrow cannot hold is quarantined alone.
    ``cursor``: an open file descriptor where the index of the file about to be parsed is
    written first (``len(items)`` once all are), so a crashed worker names its file;
    ``crashed``: index -> reason of files a parser crashed on, quarantined without parsing.
    """
    files: list[FileRead] = []
    results: list[DocumentRows | Rejection] = []
    for index, (path, known) in enumerate(items):
        if cursor is not None:
            os.pwrite(cursor, index.to_bytes(8, "little"), 0)
        if crashed and index in crashed:
            read, result = crashed_file(path, max_file_bytes, crashed[index])
        else:
            read, result = process_file(path, max_file_bytes, known, profile)
        files.append(read)
        if result is not None:
            results.append(result)
    if cursor is not None:
        os.pwrite(cursor, len(items).to_bytes(8, "little"), 0)
    try:
        return build_tables(results, files)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        # Find the document(s) Arrow cannot hold and quarantine them instead of the whole batch.
        results = [_arrow_safe(result) for result in results]
        stored = {r.path for r in results if isinstance(r, Rejection)}
        files = [FileRead(f.path, f.size, f.mtime_ns, f.sha256, "rejected")
                 if f.path in stored else f for f in files]  # fmt: skip
        return build_tables(results, files)


def summarize(tables: dict[str, pa.Table], batch_dir: str) -> ChunkSummary:
    """The small summary of a staged batch that crosses process boundaries."""
    return ChunkSummary(
        batch_dir,
        tables["file"].num_rows,
        tables["article"].num_rows,
        tables["rejection"].num_rows,
        tables["warning"].num_rows,
        staged_bytes(tables),
    )


def staged_bytes(tables: dict[str, pa.Table]) -> int:
    """The size of a staged batch's tables (their Arrow buffers)."""
    return sum(table.nbytes for table in tables.values())


def process_chunk(
    items: Sequence[tuple[str, str | None]],
    max_file_bytes: int,
    batch_dir: str,
    crashed: Mapping[int, str] | None = None,
    profile: Profile | None = None,
) -> ChunkSummary:
    """Worker entry point: one chunk of (path, known sha256) -> one staged batch on disk.

    While it parses, ``<batch_dir>.cursor`` holds the index of the file being parsed (see
    ``stage_files``: how a crashed worker's file is found); it is removed once the batch is
    staged.
    """
    cursor_path = _cursor_path(batch_dir)
    cursor_path.parent.mkdir(parents=True, exist_ok=True)
    cursor = os.open(cursor_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        tables = chunk_tables(
            items, max_file_bytes, cursor=cursor, crashed=crashed, profile=profile
        )
    finally:
        os.close(cursor)
    write_batch(tables, Path(batch_dir))
    cursor_path.unlink(missing_ok=True)
    return summarize(tables, batch_dir)


def _cursor_path(batch_dir: str | Path) -> Path:
    return Path(f"{batch_dir}.cursor")


def _read_cursor(batch_dir: str | Path) -> int | None:
    """The index a worker wrote last for this chunk, or None when it never started it."""
    try:
        data = _cursor_path(batch_dir).read_bytes()
    except OSError:
        return None
    return int.from_bytes(data, "little") if len(data) == 8 else None


def write_batch(tables: dict[str, pa.Table], batch_dir: Path) -> None:
    batch_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        tmp = batch_dir / f"{name}.arrow.tmp"
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        tmp.replace(batch_dir / f"{name}.arrow")


def read_batch(batch_dir: Path | str) -> dict[str, pa.Table]:
    """Memory-map a staged batch back into Arrow tables."""
    tables = {}
    for name in SCHEMAS:
        with pa.memory_map(str(Path(batch_dir) / f"{name}.arrow"), "r") as source:
            tables[name] = pa.ipc.open_file(source).read_all()
    return tables


def read_group(batch_dirs: Sequence[Path | str]) -> dict[str, pa.Table]:
    """Several staged batches as one (memory-mapped, not copied): the load merges a group in
    one transaction."""
    return concat_batches([read_batch(d) for d in batch_dirs])


def concat_batches(parts: Sequence[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Staged batches as one, ``doc_index`` renumbered so it stays unique across them."""
    if len(parts) == 1:
        return parts[0]
    tables: dict[str, list[pa.Table]] = {name: [] for name in SCHEMAS}
    offset = 0
    for part in parts:
        for name, table in part.items():
            if offset and "doc_index" in table.column_names:
                shifted = pc.add(table["doc_index"], pa.scalar(offset, I32))
                table = table.set_column(0, "doc_index", shifted)
            tables[name].append(table)
        offset += 1 + max(
            (pc.max(t["doc_index"]).as_py() or 0 for t in part.values() if t.num_rows
             and "doc_index" in t.column_names),
            default=0,
        )  # fmt: skip
    return {name: pa.concat_tables(chunks) for name, chunks in tables.items()}


def select_documents(
    tables: dict[str, pa.Table], doc_indexes: Sequence[int]
) -> dict[str, pa.Table]:
    """The rows of some documents of a staged group, with their files' ledger facts, to load
    them again (drift and rejections were recorded the first time)."""
    keep = pa.array(doc_indexes, I32)
    picked = {
        name: table.filter(pc.is_in(table["doc_index"], value_set=keep))
        if "doc_index" in table.column_names and name != "drift"
        else table.slice(0, 0)
        for name, table in tables.items()
    }
    paths = picked["article"]["source_path"]
    picked["file"] = tables["file"].filter(pc.is_in(tables["file"]["path"], value_set=paths))
    return picked


def _die_with_parent() -> None:
    """Worker initializer: on Linux, ask the kernel to end this worker if the run is killed
    (``kill -9`` gives the run no chance to stop its pool)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)


def chunk_files(batch_size: int) -> int:
    """Files per worker chunk: ``CHUNK_FILES``, or fewer when a load batch is smaller."""
    return min(batch_size, CHUNK_FILES)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunk_bounds(
    paths: Sequence[tuple[str, str | None]], size: int, max_bytes: int = CHUNK_BYTES
) -> list[tuple[int, int]]:
    """(start, stop) of each worker chunk of ``paths``: consecutive files, at most ``size`` of
    them and at most ``max_bytes`` on disk together (a file larger than that alone). The sizes
    are the discovered ones when ``paths`` carries them (a ledger ``WorkList``: ``sizes``),
    else taken with ``os.stat`` (an unreadable file counts 0: its chunk reads nothing)."""
    sizes: Iterable[int | None] | None = getattr(paths, "sizes", None)
    if sizes is None:
        sizes = (_size(path) for path, _ in paths)
    bounds: list[tuple[int, int]] = []
    start = total = 0
    for index, file_size in enumerate(sizes):
        file_size = max(file_size or 0, 0)
        if index > start and (index - start >= size or total + file_size > max_bytes):
            bounds.append((start, index))
            start, total = index, 0
        total += file_size
    if start < len(paths):
        bounds.append((start, len(paths)))
    return bounds


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def stage_files(
    paths: Sequence[tuple[str, str | None]],
    staging_dir: Path,
    *,
    workers: int,
    batch_size: int,
    max_file_bytes: int,
    chunk_bytes: int = CHUNK_BYTES,
    profile: Profile | None = None,
) -> Iterator[ChunkSummary]:
    """Process all files in chunks of at most ``CHUNK_FILES`` (and ``batch_size``) files and
    ``chunk_bytes`` bytes (:func:`chunk_bounds`), on ``workers`` processes (no more than there
    are chunks), in input order.

    At most ``workers + QUEUED_CHUNKS`` chunks are handed to the pool at a time (a chunk becomes
    Python objects only then), so memory does not grow with the number of files, while the
    workers stay busy through a load transaction or checkpoint of several seconds.
    """
    bounds = chunk_bounds(paths, chunk_files(batch_size), chunk_bytes)
    count = len(bounds)
    chunks = (
        (paths[start:stop], staging_dir / f"batch-{i:06d}")
        for i, (start, stop) in enumerate(bounds)
    )
    if workers <= 1 or count <= 1:
        for chunk, batch_dir in chunks:
            yield process_chunk(chunk, max_file_bytes, str(batch_dir), profile=profile)
        return
    # 'spawn' keeps workers free of the parent's threads and event loops (Prefect runs some).
    context = multiprocessing.get_context("spawn")
    workers = min(workers, count)  # never more processes than chunks
    pool = _pool(workers, context)
    pending: deque[_Pending] = deque()
    try:
        for chunk, batch_dir in chunks:
            future = pool.submit(
                process_chunk, chunk, max_file_bytes, str(batch_dir), None, profile
            )
            pending.append(_Pending(future, chunk, batch_dir))
            if len(pending) >= workers + QUEUED_CHUNKS:
                summary, pool = _next_summary(
                    pending, pool, workers, context, max_file_bytes, profile
                )
                yield summary
        while pending:
            summary, pool = _next_summary(pending, pool, workers, context, max_file_bytes, profile)
            yield summary
    finally:  # stopped early (a failed load) or failed: drop what has not started
        for item in pending:
            item.future.cancel()
        pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Pending:
    future: cf.Future[ChunkSummary]
    chunk: Sequence[tuple[str, str | None]]
    batch_dir: Path


def _pool(workers: int, context: Any) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_die_with_parent
    )


def _next_summary(
    pending: deque[_Pending],
    pool: cf.ProcessPoolExecutor,
    workers: int,
    context: Any,
    max_file_bytes: int,
    profile: Profile | None = None,
) -> tuple[ChunkSummary, cf.ProcessPoolExecutor]:
    """The first pending chunk's summary (taken off ``pending``), and the pool to go on with.

    When a worker dies (a parser crash: a signal, an abort), the pool is broken and every
    unfinished chunk with it. A chunk that never started is queued again on a new pool; a chunk
    a worker had started (its cursor file exists) is run again alone in its own process, so a
    crash there can only be its own: the cursor names the file, which is quarantined with kind
    ``parser_crash``, and the chunk is run again without parsing it.
    """
    while True:
        try:
            summary = pending[0].future.result()
            pending.popleft()
            return summary, pool
        except cf.process.BrokenProcessPool:
            pool.shutdown(wait=True)
            pool = _pool(workers, context)
            for i, item in enumerate(list(pending)):
                future = item.future
                if future.done() and not isinstance(
                    future.exception(), cf.process.BrokenProcessPool
                ):
                    continue  # finished (or failed on its own) before the pool broke
                if _read_cursor(item.batch_dir) is None:
                    future = pool.submit(process_chunk, item.chunk, max_file_bytes,
                                         str(item.batch_dir), None, profile)  # fmt: skip
                else:
                    future = cf.Future()
                    future.set_result(
                        _run_alone(item.chunk, max_file_bytes, item.batch_dir, context, profile)
                    )
                pending[i] = _Pending(future, item.chunk, item.batch_dir)


def _run_alone(
    chunk: Sequence[tuple[str, str | None]],
    max_file_bytes: int,
    batch_dir: Path,
    context: Any,
    profile: Profile | None = None,
) -> ChunkSummary:
    """Process one chunk in a process of its own until it succeeds, quarantining each file
    its parser crashes on (at most one per attempt)."""
    crashed: dict[int, str] = {}
    while True:
        _cursor_path(batch_dir).unlink(missing_ok=True)
        process = context.Process(
            target=_alone_entry, args=(chunk, max_file_bytes, str(batch_dir), crashed, profile),
            daemon=True,
        )  # fmt: skip
        process.start()
        process.join()
        code = process.exitcode
        if code == 0:
            return summarize(read_batch(batch_dir), str(batch_dir))
        index = _read_cursor(batch_dir)
        if code == _ERROR_EXIT or index is None or index >= len(chunk) or index in crashed:
            raise cf.process.BrokenProcessPool(
                f"a worker process died (exit code {code}) while staging {batch_dir.name}, "
                "not while parsing a file"
            )
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        crashed[index] = f"the parser crashed on this file (its worker process: {how})"


def _alone_entry(
    chunk: Sequence[tuple[str, str | None]],
    max_file_bytes: int,
    batch_dir: str,
    crashed: Mapping[int, str],
    profile: Profile | None = None,
) -> None:
    _die_with_parent()
    try:
        process_chunk(chunk, max_file_bytes, batch_dir, crashed, profile)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(_ERROR_EXIT)
