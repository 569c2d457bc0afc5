"""The ingest run as plain Python: stages composed once, for the CLI, Prefect and notebooks.

``run_ingest(settings)`` runs the stages directly. ``flows.pipeline`` passes a ``run_stage``
that wraps each stage in a Prefect task, so both shells share this one composition.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from flows import db
from flows.extract.discover import Discovery
from flows.extract.discover import discover as discover_sources
from flows.load import bookkeeping
from flows.load import merge as load_mod
from flows.load.ledger import Plan, plan_run
from flows.load.publish import (
    STORAGE_TARGETS,
    WarehouseFiles,
    files_for,
    prepare_working,
    publish,
    rewrite_storage,
    writer_lock,
)
from flows.load.search import refresh_index
from flows.models import datatests
from flows.models.build import ModelResult, run_models
from flows.models.datatests import CheckResult
from flows.normalize.batches import (
    CHUNK_BYTES,
    ChunkSummary,
    chunk_files,
    concat_batches,
    read_group,
    select_documents,
    stage_files,
    staged_bytes,
)
from flows.normalize.profile import Profile, ProfileError, resolve_profile
from flows.paths import shown
from flows.records import StageFailed
from flows.settings import Settings

T = TypeVar("T")
RunStage = Callable[..., Any]
TOP_REJECTIONS = 10
# A load group's staged bytes are at most 1/GROUP_SHARE of the DuckDB memory limit.
GROUP_SHARE = 4


def run_directly(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Default stage runner: just call the stage."""
    return fn(*args)


@dataclass(frozen=True)
class Progress:
    """How far a run's parse and load are, reported to ``on_progress`` when the workers start
    (``event`` "started"), once per staged batch ("parsed"), once per merged load group
    ("loaded"), and once when the load is done ("done"): never per file. The shells decide how
    to show it (a bar, lines, nothing)."""

    event: str
    total: int  # the files this run reads (unchanged files are skipped unread)
    parsed: int  # files parsed and staged by the workers so far
    loaded: int  # files merged into the warehouse so far
    seconds: float  # since the workers started

    def line(self) -> str:
        """``loaded 8,000 of 20,000 files (40%) in 6.1 s``: the one-line form of a group."""
        share = 100 * self.loaded // self.total if self.total else 100
        return f"loaded {self.loaded:,} of {self.total:,} files ({share}%) in {self.seconds:.1f} s"


OnProgress = Callable[[Progress], None]


class Extraction:
    """The extract stage's output: staged batches as the workers finish them. The load stage
    consumes it, merging batches while later ones are still being parsed. ``on_progress``
    hears of every batch handed over and every group the load reports (:meth:`loaded`)."""

    def __init__(
        self,
        chunks: Iterator[ChunkSummary],
        total: int = 0,
        on_progress: OnProgress | None = None,
    ) -> None:
        self._chunks = chunks
        self.started = time.perf_counter()
        self.files = self.documents = self.rejected = 0
        self.seconds = 0.0  # from the start until the last batch was handed over
        self.total = total
        self.merged = 0  # files in the groups the load merged so far
        self._on_progress = on_progress
        self._batch_files: dict[str, int] = {}
        if on_progress is not None:
            self._report("started")

    def __iter__(self) -> Iterator[ChunkSummary]:
        for chunk in self._chunks:
            self.files += chunk.files
            self.documents += chunk.documents
            self.rejected += chunk.rejected
            self.seconds = time.perf_counter() - self.started
            if self._on_progress is not None:
                self._batch_files[chunk.batch_dir] = chunk.files
                self._report("parsed")
            yield chunk

    def loaded(self, group: Sequence[str]) -> None:
        """The load merged ``group`` (staged batch folders): report it."""
        if self._on_progress is not None:
            self.merged += sum(self._batch_files.pop(batch, 0) for batch in group)
            self._report("loaded")

    def done(self) -> None:
        """Every batch is merged (deferred documents and deletions too)."""
        if self._on_progress is not None:
            self._report("done")

    def _report(self, event: str) -> None:
        assert self._on_progress is not None
        seconds = time.perf_counter() - self.started
        self._on_progress(Progress(event, self.total, self.files, self.merged, seconds))

    def close(self) -> None:
        """Stop the workers early (nothing happens when every batch was consumed)."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


@dataclass
class RunSummary:
    """What a run did; returned by the flow, printed by the CLI, stored in ``etl.run``."""

    run_id: str
    warehouse: str
    status: str = "running"
    files_seen: int = 0
    files_loaded: int = 0
    files_rejected: int = 0
    files_skipped: int = 0
    files_ignored: int = 0
    files_unchanged: int = 0
    files_superseded: int = 0
    # Of files_unchanged: rejected before and unchanged, so skipped unread (still quarantined).
    files_still_rejected: int = 0
    files_deleted: int = 0
    articles_retired: int = 0
    warnings: int = 0
    published: bool = False
    rows_inserted: dict[str, int] = field(default_factory=dict)
    rows_updated: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    # Per stage; ``extract`` (parsing wall: until the workers handed over the last batch) and
    # ``load`` (merging busy time) overlap inside ``parse_and_load`` (that stage's wall time).
    seconds: dict[str, float] = field(default_factory=dict)
    models_built: list[str] = field(default_factory=list)
    models_failed: dict[str, str] = field(default_factory=dict)
    models_skipped: list[str] = field(default_factory=list)
    data_tests: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    top_reasons: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    # Symbolic links inside the sources that were not followed (counted in files_ignored).
    ignored_links: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- stages -----------------------------------------------------------------------------------


def _connect(settings: Settings, read_only: bool = False) -> Any:
    """A connection within the run's DuckDB memory budget (models and data tests too: their
    joins and aggregations would otherwise grow with the warehouse)."""
    conn = db.connect(settings.warehouse, read_only=read_only)
    conn.execute(f"set memory_limit = '{settings.duckdb_memory_mb}MB'")
    return conn


def hold_writer_lock(files: WarehouseFiles, run_id: str, timeout: float) -> ExitStack:
    """Stage ``lock``: take the single-writer lock and return it held; closing it releases it.

    A busy warehouse raises ``StageFailed("lock", ...)`` naming the holder; being a stage of its
    own, the Prefect flow can retry it with backoff while plain Python fails after ``timeout``.
    """
    held = ExitStack()
    held.enter_context(writer_lock(files, run_id, timeout))
    return held


def begin_run(
    settings: Settings,
    run_id: str,
    flow_run_id: str | None,
    files: WarehouseFiles,
    parameters: dict[str, Any],
) -> None:
    """Prepare the working copy (``settings.warehouse`` is it) and open the run's row."""
    prepare_working(files, settings.full_refresh, settings.sql_dir)
    conn = _connect(settings)
    try:
        db.ensure_schema(conn, settings.sql_dir)
        sources = [str(s) for s in settings.sources]
        bookkeeping.start_run(conn, run_id, sources, flow_run_id, parameters)
    finally:
        conn.close()


def discover(settings: Settings) -> Discovery:
    """The run's files: the article suffixes, plus what the profile's ``also_read`` names."""
    profile = run_profile(settings)
    return discover_sources(settings.sources, profile.reads_also if profile.also_read else None)


def plan(settings: Settings, found: Discovery) -> Plan:
    """Compare the files with the ledger: what to read, what to skip, what was deleted."""
    conn = _connect(settings)
    try:
        sources = [str(s) for s in settings.sources]
        return plan_run(conn, found, sources, run_profile(settings).ledger_version())
    finally:
        conn.close()


def run_profile(settings: Settings) -> Profile:
    """The run's source profile (``settings.profile``, else a ``newsflow.toml`` in a source
    folder) with its base URL and source roots; a profile that cannot be loaded fails the run
    before anything is read."""
    sources = tuple(str(s) for s in settings.sources)
    try:
        return resolve_profile(settings.profile, settings.base_url, sources)
    except ProfileError as exc:
        raise StageFailed("profile", str(exc)) from None


def _parse_profile(settings: Settings) -> Profile | None:
    """What the workers apply: None for the default profile (documents as they are)."""
    profile = run_profile(settings)
    return None if profile.is_default else profile


log = logging.getLogger("newsflow.search")

Stager = Callable[..., Iterator[ChunkSummary]]
"""Where chunks are parsed: :func:`flows.normalize.batches.stage_files` (local worker
processes) by default; the Prefect shell passes its Dask stager for ``settings.dask_address``."""


def extract(
    settings: Settings,
    work: Sequence[tuple[str, str | None]],
    staging_dir: str,
    stager: Stager = stage_files,
    on_progress: OnProgress | None = None,
) -> Extraction:
    """Start parsing ``work`` on the workers (local processes or Dask) into staged batches.
    Returns at once: the parsing happens while the load consumes the batches."""
    return Extraction(
        stager(
            work,
            Path(staging_dir),
            workers=settings.workers,
            batch_size=settings.batch_size,
            max_file_bytes=settings.max_file_bytes,
            chunk_bytes=chunk_bytes(settings),
            profile=_parse_profile(settings),
        ),
        total=len(work),
        on_progress=on_progress,
    )


@dataclass
class LoadResult:
    batches: load_mod.BatchResult
    retired: dict[str, int]
    seconds: float = 0.0  # time spent merging (the rest of the stage waited for the workers)


def load(settings: Settings, extracted: Extraction, run_id: str, planned: Plan) -> LoadResult:
    """Merge the staged batches as they arrive (one transaction per group of about
    ``batch_size`` files), decide the deferred documents over the whole run, then reconcile
    deletions. See :mod:`flows.load.merge` for what is loaded early and what waits."""
    total = load_mod.BatchResult()
    busy = 0.0
    version = run_profile(settings).ledger_version()
    conn = _connect(settings)
    try:
        # Fewer, larger checkpoints, within a memory budget so the writer stays flat however
        # large the corpus.
        conn.execute(f"set checkpoint_threshold = '{checkpoint_mb(settings)}MB'")
        load_mod.begin_stream(conn, planned.deleted)
        groups: list[list[str]] = []
        in_flight = settings.workers * chunk_files(settings.batch_size)
        budget = group_bytes(settings)
        for group in _groups(
            extracted, settings.batch_size, len(planned.work), in_flight, max_bytes=budget
        ):
            started = time.perf_counter()
            tables = read_group(group)
            total.add(load_mod.load_new_batch(conn, tables, run_id, version, len(groups)))
            groups.append(group)
            busy += time.perf_counter() - started
            extracted.loaded(group)
        started = time.perf_counter()
        deferred = load_mod.finish_stream(conn)
        # Decided over the whole run already: loaded in transactions of at most ``budget``
        # staged bytes (one for all of them on a normal corpus).
        for parts in _deferred_groups(groups, deferred, budget):
            tables = concat_batches(parts)
            total.add(load_mod.load_batch(conn, tables, run_id, version))
        retired = load_mod.reconcile(
            conn,
            run_id,
            deleted=planned.deleted,
            unnamed=planned.unnamed,
            refused=planned.refused,
            prune=settings.prune,
        )
        busy += time.perf_counter() - started
        extracted.done()
    finally:
        extracted.close()  # a failed load stops the workers (or the Dask cluster) now
        conn.close()
    return LoadResult(total, retired, busy)


def group_bytes(settings: Settings) -> int:
    """The most staged bytes one load transaction merges (docs/memory.md): a quarter of the
    DuckDB memory limit, beside the committed rows not yet checkpointed (:func:`checkpoint_mb`)
    and the merge's joins."""
    return settings.duckdb_memory_mb * 2**20 // GROUP_SHARE


def chunk_bytes(settings: Settings) -> int:
    """Source bytes per worker chunk: ``CHUNK_BYTES``, or half a load group when the memory
    limit is lower (a document's staged rows take up to about twice its size on disk), so a
    chunk never outgrows a load group."""
    return max(1, min(CHUNK_BYTES, group_bytes(settings) // 2))


def checkpoint_mb(settings: Settings) -> int:
    """The load's checkpoint threshold: ``checkpoint_mb``, at most half the memory limit. DuckDB
    holds committed rows in memory until a checkpoint writes them, so the threshold is memory
    the load keeps; above half the limit a big-document load fails to commit."""
    return max(1, min(settings.checkpoint_mb, settings.duckdb_memory_mb // 2))


def _groups(
    chunks: Iterable[ChunkSummary],
    batch_size: int,
    total: int = 0,
    last: int = 0,
    max_bytes: int | None = None,
) -> Iterator[list[str]]:
    """Consecutive staged batches of about ``batch_size`` files, as they arrive: one load
    transaction each (fewer, larger transactions write far less: DuckDB compresses and writes
    per commit). A group also ends before its staged bytes would pass ``max_bytes`` (a batch
    larger than that is a group of its own), so big documents make smaller groups.

    Of ``total`` files, the last ``last`` (the chunks the workers parse side by side at the
    end) make a group of their own: the group before them loads while they are parsed, and
    what is left to load once the workers are done is small.
    """
    group: list[str] = []
    files = seen = size = 0
    for chunk in chunks:
        if group and max_bytes is not None and size + chunk.bytes > max_bytes:
            yield group
            group, files, size = [], 0, 0
        group.append(chunk.batch_dir)
        files += chunk.files
        seen += chunk.files
        size += chunk.bytes
        if files >= batch_size or 0 < total - seen <= last < total - seen + files:
            yield group
            group, files, size = [], 0, 0
    if group:
        yield group


def _deferred_groups(
    groups: Sequence[Sequence[str]], deferred: dict[int, list[int]], max_bytes: int
) -> Iterator[list[dict[str, Any]]]:
    """The deferred documents' rows (:func:`flows.load.merge.finish_stream`), read group by
    group, in parts of at most ``max_bytes`` staged bytes (a larger group's part alone)."""
    parts: list[dict[str, Any]] = []
    size = 0
    for batch, docs in deferred.items():
        part = select_documents(read_group(groups[batch]), docs)
        part_bytes = staged_bytes(part)
        if parts and size + part_bytes > max_bytes:
            yield parts
            parts, size = [], 0
        parts.append(part)
        size += part_bytes
    if parts:
        yield parts


def index_articles(settings: Settings, run_id: str) -> bool:
    """Stage ``search``: refresh the full-text index when the live articles changed
    (:func:`flows.load.search.refresh_index`), tokenizing an eighth of a load group's bytes at a
    time (8 MiB of text under the default memory limit); True when it was refreshed."""
    conn = _connect(settings)
    try:
        return refresh_index(conn, run_id, max_bytes=max(1, group_bytes(settings) // 8))
    except duckdb.OutOfMemoryException as exc:
        # Reading back very large texts (DuckDB decompresses a column's strings a vector at a
        # time) can exceed a small memory limit. The articles are loaded: the index is left
        # behind them (whole per article; the next run tries again) rather than failing the
        # run; `newsflow search` says so.
        log.warning(
            "search index not refreshed (raise --duckdb-memory-mb and run again): %s",
            str(exc).splitlines()[0],
        )
        return False
    finally:
        conn.close()


def rebuild_models(settings: Settings, select: list[str] | None = None) -> ModelResult:
    """``newsflow models``: build models alone, under the writer lock, on the working copy, and
    publish the result when every selected model built."""
    files = files_for(settings.warehouse)
    with writer_lock(files, f"models-{uuid.uuid4()}", settings.lock_timeout):
        prepare_working(files, full_refresh=False)
        work = settings.with_overrides(warehouse=files.working)
        with closing(_connect(work)) as conn:
            result = run_models(conn, work.sql_dir / "models", select)
        if result.ok:
            publish(files)
    return result


def rewrite_warehouse(settings: Settings, action: str) -> tuple[str, str]:
    """``newsflow warehouse upgrade|downgrade``: rewrite the published file in another storage
    format under the writer lock (:func:`flows.load.publish.rewrite_storage`)."""
    files = files_for(settings.warehouse)
    with writer_lock(files, f"warehouse-{uuid.uuid4()}", settings.lock_timeout):
        return rewrite_storage(files, STORAGE_TARGETS[action])


def warehouse_storage(settings: Settings) -> str:
    """The storage format of the published warehouse (``v1.4.0+``: DuckDB 1.4 and later)."""
    conn = db.connect(settings.warehouse, read_only=True)
    try:
        return db.storage_version(conn)
    finally:
        conn.close()


def check_data(
    settings: Settings, select: list[str] | None = None, read_only: bool = False
) -> CheckResult:
    """Run the data tests (sql/**/*.yml and sql/tests) against the warehouse."""
    conn = _connect(settings, read_only=read_only)
    try:
        return datatests.run_data_tests(conn, settings.sql_dir, select, threads=settings.workers)
    finally:
        conn.close()


def finish(settings: Settings, summary: RunSummary) -> RunSummary:
    """Record the run in ``etl.run``; fill in table sizes, rejections and drift."""
    conn = _connect(settings)
    try:
        bookkeeping.forget_missing_rejections(conn)
        summary.table_rows = bookkeeping.table_rows(conn)
        recorded = summary.to_dict()
        recorded["seconds"] = {k: round(v, 3) for k, v in summary.seconds.items()}
        bookkeeping.finish_run(conn, recorded)
        found = bookkeeping.run_findings(conn, summary.run_id, shown=TOP_REJECTIONS)
    finally:
        conn.close()
    summary.top_reasons = found["top_reasons"]
    summary.rejections = [
        {**r, "location": _location(r["path"], r["line"], r["col"])} for r in found["rejections"]
    ]
    summary.drift = found["drift"]
    for item in summary.drift:
        item["example_path"] = _location(item["example_path"], None, None)
    return summary


def record_failed_publish(settings: Settings, summary: RunSummary) -> None:
    """Turn the run's row in the working copy (``settings.warehouse``) from success to failed
    with the publish error: ``finish`` wrote it before the publish. Best effort: on a disk
    that is still full the row cannot be written, and the publish error is what counts."""
    with suppress(Exception), closing(_connect(settings)) as conn:  # never hide the publish error
        bookkeeping.finish_run(
            conn, {"run_id": summary.run_id, "status": "failed", "error": summary.error}
        )


def _location(path: str, line: int | None, col: int | None) -> str:
    return ":".join([shown(path), *(str(x) for x in (line, col) if x is not None)])


# -- composition ------------------------------------------------------------------------------


def run_ingest(
    settings: Settings,
    *,
    run_stage: RunStage = run_directly,
    flow_run_id: str | None = None,
    on_data_tests: Callable[[list[dict[str, Any]]], None] | None = None,
    stager: Stager = stage_files,
    on_progress: OnProgress | None = None,
) -> RunSummary:
    """Lock -> discover -> plan (ledger) -> extract+normalize (parallel, staged as Arrow) -> load
    -> models -> data tests -> record -> publish.

    The run works on a private copy of the warehouse and publishes it atomically only when every
    stage succeeded (see :mod:`flows.load.publish`). A stage that fails hard is recorded in
    ``etl.run`` and re-raised as :class:`StageFailed`. Rejected documents never fail the run; a
    data test of severity error does. ``on_data_tests`` gets the data-test results first.
    ``stager`` parses the files (:data:`Stager`); ``settings.dask_address`` needs the Prefect
    shell's Dask stager, so plain Python refuses it. ``on_progress`` hears how far the parse
    and load are (:class:`Progress`, once per batch and per load group).
    """
    if settings.dask_address and stager is stage_files:
        raise ValueError(
            "dask_address parses on a Dask cluster through Prefect tasks: run the Prefect flow "
            "(flows.pipeline.flow.ingest, or newsflow run without --no-prefect)"
        )
    run_id = flow_run_id or str(uuid.uuid4())
    files = files_for(settings.warehouse)
    summary = RunSummary(run_id=run_id, warehouse=str(settings.warehouse))
    with run_stage("lock", hold_writer_lock, files, run_id, settings.lock_timeout):
        # Every stage below sees the working copy as "the warehouse".
        work = settings.with_overrides(warehouse=files.working)
        parameters = settings.parameters(recorded=True)
        started = time.perf_counter()
        run_stage("begin", begin_run, work, run_id, flow_run_id, files, parameters)
        summary.seconds["begin"] = time.perf_counter() - started
        _run_stages(
            work, summary, files.staging / run_id, run_stage, on_data_tests, stager, on_progress
        )
        started = time.perf_counter()
        try:
            run_stage("publish", publish, files)
        except Exception as exc:
            summary.status = "failed"
            summary.error = (
                str(exc)
                if isinstance(exc, StageFailed)
                else f"unexpected {type(exc).__name__}: {exc}"
            )
            record_failed_publish(work, summary)
            raise
        # after etl.run was written: in the returned summary only
        summary.seconds["publish"] = time.perf_counter() - started
        summary.published = True
    return summary


def _run_stages(
    work: Settings,
    summary: RunSummary,
    staging_dir: Path,
    run_stage: RunStage,
    on_data_tests: Callable[[list[dict[str, Any]]], None] | None,
    stager: Stager,
    on_progress: OnProgress | None,
) -> None:
    timed = _Timer(summary.seconds)
    cleanup: threading.Thread | None = None
    try:
        with timed("discover"):
            found = run_stage("discover", discover, work)
        summary.files_ignored = found.ignored
        summary.ignored_links = [
            {"path": shown(path), "reason": reason} for path, reason in found.ignored_links
        ]
        summary.files_seen = len(found) + len(found.unnamed) + len(found.refused) + found.ignored
        with timed("plan"):
            planned = run_stage("plan", plan, work, found)
        summary.files_deleted = len(planned.deleted)
        # Streaming: stage ``extract`` only starts the workers; the parsing happens while stage
        # ``parse_and_load`` merges the batches as they arrive, so that stage's wall time holds
        # both (a Prefect task of its own; the seconds below give the split).
        extracted = run_stage(
            "extract", extract, work, planned.work, str(staging_dir), stager, on_progress
        )
        started = time.perf_counter()
        loaded = run_stage("parse_and_load", load, work, extracted, summary.run_id, planned)
        streamed = time.perf_counter() - started
        # Every staged batch is in the warehouse now: delete them while the models build
        # (unlinking a run's worth of Arrow files takes most of a second at 100,000 documents).
        cleanup = threading.Thread(
            target=shutil.rmtree, args=(staging_dir,), kwargs={"ignore_errors": True}
        )
        cleanup.start()
        # The two overlap within parse_and_load: extract until the workers handed over the last
        # batch (parsing wall), load the time spent merging (while they worked, and after); the
        # rest of parse_and_load waited for the workers.
        summary.seconds["extract"] = extracted.seconds
        summary.seconds["load"] = loaded.seconds
        summary.seconds["parse_and_load"] = streamed
        batches = loaded.batches
        # A file skipped as unchanged whose URL a new file took over ends the run superseded.
        displaced = len(set(batches.displaced) & set(planned.skipped))
        summary.files_loaded = batches.loaded
        # A rejected file that is unchanged (same size, mtime and contract version) is skipped
        # unread like any unchanged file: it counts as unchanged, and stays in the quarantine.
        summary.files_still_rejected = len(planned.still_rejected)
        summary.files_unchanged = (
            batches.unchanged + len(planned.skipped) - displaced + len(planned.still_rejected)
        )
        summary.files_superseded = batches.superseded + len(planned.still_superseded) + displaced
        summary.files_rejected = batches.rejected + len(planned.unnamed) + len(planned.refused)
        summary.files_skipped = summary.files_unchanged + summary.files_superseded
        summary.warnings = batches.warnings
        summary.articles_retired = loaded.retired.get("soft_deleted", 0)
        summary.rows_inserted = {t: batches.inserted.get(t, 0) for t in load_mod.TABLES}
        summary.rows_updated = {t: batches.updated.get(t, 0) for t in load_mod.TABLES}
        summary.rows_deleted = {
            table: batches.deleted.get(table, 0) + loaded.retired.get(table, 0)
            for table in load_mod.TABLES
        }
        with timed("search"):
            run_stage("search", index_articles, work, summary.run_id)
        # One connection serves every model (opening the file per model costs more than most
        # builds); stage ``models`` plans, each model builds as its own stage ``model:NAME``.
        with timed("models"), closing(_connect(work)) as conn:
            models = run_models(conn, work.sql_dir / "models", run_stage=run_stage)
        summary.models_built = models.built
        summary.models_failed = models.failed
        summary.models_skipped = models.skipped
        if not models.ok:
            failed = ", ".join([*models.failed, *models.skipped])
            raise StageFailed("models", f"model(s) failed or skipped: {failed}")
        with timed("data_tests"):
            checked = run_stage("data_tests", check_data, work)
        summary.data_tests = [result.to_dict() for result in checked.results]
        if on_data_tests is not None:
            on_data_tests(summary.data_tests)
        if not checked.ok:
            broken = [r.name for r in checked.results if r.outcome in ("fail", "error")]
            raise StageFailed(
                "data_tests",
                f"{checked.headline()}: {', '.join(broken)}; "
                f"see `newsflow check --warehouse {summary.warehouse}`",
            )
        summary.status = "success"
    except StageFailed as exc:
        summary.status = "failed"
        summary.error = str(exc)
        raise
    except Exception as exc:
        summary.status = "failed"
        summary.error = f"unexpected {type(exc).__name__}: {exc}"
        raise StageFailed("run", summary.error) from exc
    finally:
        if cleanup is None:
            shutil.rmtree(staging_dir, ignore_errors=True)
        else:
            cleanup.join()
        started = time.perf_counter()
        try:
            run_stage("finish", finish, work, summary)
        except Exception as exc:
            # A run that failed already (a full disk, say) reports that error: finish failing
            # after it is a consequence, and must not hide it (the row then reads interrupted).
            if summary.status == "failed":
                pass
            elif isinstance(exc, duckdb.Error):
                summary.status, summary.error = "failed", f"cannot record the run: {exc}"
                raise StageFailed("finish", summary.error) from exc
            else:
                raise
        summary.seconds["finish"] = time.perf_counter() - started


class _Timer:
    def __init__(self, into: dict[str, float]) -> None:
        self.into = into

    def __call__(self, stage: str) -> _Timer:
        self.stage = stage
        return self

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.into[self.stage] = time.perf_counter() - self.started
