"""The ingest run as plain Python: stages composed once, for the CLI, Prefect and notebooks.

``run_ingest(settings)`` runs the stages directly. ``flows.pipeline`` passes a ``run_stage``
that wraps each stage in a Prefect task, so both shells share this one composition.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flows import load as load_mod
from flows.extract import Discovery
from flows.extract import discover as discover_sources
from flows.models import ModelResult, run_models
from flows.records import StageFailed
from flows.settings import Settings
from flows.staging import ChunkSummary, read_batch, stage_files

T = TypeVar("T")
RunStage = Callable[..., Any]
TOP_REJECTIONS = 10


def run_directly(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Default stage runner: just call the stage."""
    return fn(*args)


@dataclass
class ExtractResult:
    batch_dirs: list[str]
    files: int
    documents: int
    rejected: int
    seconds: float


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
    warnings: int = 0
    rows_inserted: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    models_built: list[str] = field(default_factory=list)
    models_failed: dict[str, str] = field(default_factory=dict)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    top_reasons: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [
            f"# newsflow ingest `{self.run_id}`: {self.status}",
            "",
            f"Warehouse: `{self.warehouse}`",
            "",
            "| files seen | loaded | rejected | skipped (unchanged + superseded) | ignored "
            "| warnings |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {self.files_seen} | {self.files_loaded} | {self.files_rejected} "
            f"| {self.files_skipped} ({self.files_unchanged} + {self.files_superseded}) "
            f"| {self.files_ignored} | {self.warnings} |",
            "",
            "| table | rows | inserted | deleted |",
            "|---|---:|---:|---:|",
        ]
        for table, rows in self.table_rows.items():
            lines.append(
                f"| {table} | {rows} | {self.rows_inserted.get(table, 0)} "
                f"| {self.rows_deleted.get(table, 0)} |"
            )
        lines += ["", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {stage} | {secs:.3f} |" for stage, secs in self.seconds.items()]
        if self.rejections:
            lines += ["", "## Rejections", "", "| reason | files |", "|---|---:|"]
            lines += [f"| {r['kind']} | {r['files']} |" for r in self.top_reasons]
            lines += [""] + [f"- `{r['location']}`: {r['reason']}" for r in self.rejections]
        if self.drift:
            lines += ["", "## Drift", "", "| key | type seen | contract type | documents "
                      "| example |", "|---|---|---|---:|---|"]  # fmt: skip
            lines += [
                f"| `{d['key_path']}` | {d['observed_type']} | {d['expected_type'] or 'new key'} "
                f"| {d['documents']} | `{d['example_path']}` |"
                for d in self.drift
            ]
        if self.models_failed:
            lines += ["", "## Failed models", ""]
            lines += [f"- `{name}`: {err}" for name, err in self.models_failed.items()]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        return "\n".join(lines) + "\n"


# -- stages -----------------------------------------------------------------------------------


def begin_run(settings: Settings, run_id: str, flow_run_id: str | None) -> None:
    conn = load_mod.connect(settings.warehouse)
    try:
        load_mod.ensure_schema(conn, settings.sql_dir)
        load_mod.start_run(conn, run_id, [str(s) for s in settings.sources], flow_run_id)
    finally:
        conn.close()


def discover(settings: Settings) -> Discovery:
    return discover_sources(settings.sources)


def extract(settings: Settings, paths: list[str], staging_dir: str) -> ExtractResult:
    started = time.perf_counter()
    summaries: list[ChunkSummary] = list(
        stage_files(
            paths,
            Path(staging_dir),
            workers=settings.workers,
            batch_size=settings.batch_size,
            max_file_bytes=settings.max_file_bytes,
        )
    )
    return ExtractResult(
        batch_dirs=[s.batch_dir for s in summaries],
        files=sum(s.files for s in summaries),
        documents=sum(s.documents for s in summaries),
        rejected=sum(s.rejected for s in summaries),
        seconds=time.perf_counter() - started,
    )


def load(settings: Settings, extracted: ExtractResult, run_id: str) -> load_mod.BatchResult:
    total = load_mod.BatchResult()
    conn = load_mod.connect(settings.warehouse)
    try:
        loaded_this_run: set[str] = set()
        for batch_dir in extracted.batch_dirs:
            batch = load_mod.load_batch(conn, read_batch(batch_dir), run_id)
            # A file loaded earlier in this run and displaced by a winning copy of its URL in a
            # later batch ends the run superseded, not loaded.
            displaced = sum(1 for a in batch.displaced_ids if a in loaded_this_run)
            batch.loaded -= displaced
            batch.superseded += displaced
            loaded_this_run.update(batch.loaded_ids)
            total.add(batch)
    finally:
        conn.close()
    return total


def build_models(settings: Settings) -> ModelResult:
    conn = load_mod.connect(settings.warehouse)
    try:
        return run_models(conn, settings.sql_dir / "models")
    finally:
        conn.close()


def finish(settings: Settings, summary: RunSummary) -> RunSummary:
    """Record the run in ``etl.run``; fill in table sizes, rejections and drift."""
    conn = load_mod.connect(settings.warehouse)
    try:
        load_mod.forget_missing_rejections(conn)
        summary.table_rows = load_mod.table_rows(conn)
        load_mod.finish_run(
            conn,
            summary.run_id,
            {
                "status": summary.status,
                "files_seen": summary.files_seen,
                "files_loaded": summary.files_loaded,
                "files_rejected": summary.files_rejected,
                "files_skipped": summary.files_skipped,
                "files_ignored": summary.files_ignored,
                "files_unchanged": summary.files_unchanged,
                "files_superseded": summary.files_superseded,
                "warnings": summary.warnings,
                "rows_inserted": summary.rows_inserted,
                "rows_deleted": summary.rows_deleted,
                "table_rows": summary.table_rows,
                "seconds": {k: round(v, 3) for k, v in summary.seconds.items()},
                "error": summary.error,
            },
        )
        run = [summary.run_id]
        rejected = _records(conn, "select path, line, col, reason from etl.rejection "
                            "where run_id = ? order by path limit 10", run)  # fmt: skip
        summary.top_reasons = _records(
            conn,
            "select kind, count(*) as files from etl.rejection where run_id = ? "
            "group by kind order by files desc, kind limit 5",
            run,
        )
        summary.drift = _records(
            conn,
            "select key_path, observed_type, expected_type, sum(documents)::integer as documents, "
            "min(example_path) as example_path from etl.drift where run_id = ? "
            "group by all order by documents desc, key_path, observed_type",
            run,
        )
    finally:
        conn.close()
    summary.rejections = [
        {**r, "location": _location(r["path"], r["line"], r["col"])} for r in rejected
    ]
    for item in summary.drift:
        item["example_path"] = _location(item["example_path"], None, None)
    return summary


def _records(conn: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _location(path: str, line: int | None, col: int | None) -> str:
    try:
        shown = Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        shown = path
    return ":".join([shown, *(str(x) for x in (line, col) if x is not None)])


# -- composition ------------------------------------------------------------------------------


def run_ingest(
    settings: Settings,
    *,
    run_stage: RunStage = run_directly,
    flow_run_id: str | None = None,
) -> RunSummary:
    """Discover -> extract+normalize (parallel, staged as Arrow) -> load -> models -> record.

    Returns the summary; a stage that fails hard is recorded in ``etl.run`` and re-raised as
    :class:`StageFailed`. Rejected documents never fail the run.
    """
    run_id = flow_run_id or str(uuid.uuid4())
    summary = RunSummary(run_id=run_id, warehouse=str(settings.warehouse))
    staging_dir = settings.warehouse.parent / ".staging" / run_id
    timed = _Timer(summary.seconds)
    run_stage("begin", begin_run, settings, run_id, flow_run_id)
    try:
        with timed("discover"):
            found = run_stage("discover", discover, settings)
        paths = [p.as_posix() for p in found.files]
        summary.files_ignored = found.ignored
        summary.files_seen = len(paths) + found.ignored
        with timed("extract"):
            extracted = run_stage("extract", extract, settings, paths, str(staging_dir))
        with timed("load"):
            loaded = run_stage("load", load, settings, extracted, run_id)
        summary.files_loaded = loaded.loaded
        summary.files_unchanged = loaded.unchanged
        summary.files_superseded = loaded.superseded
        summary.files_rejected = loaded.rejected
        summary.files_skipped = loaded.unchanged + loaded.superseded
        summary.warnings = loaded.warnings
        summary.rows_inserted = loaded.inserted
        summary.rows_deleted = loaded.deleted
        with timed("models"):
            models = run_stage("models", build_models, settings)
        summary.models_built = models.built
        summary.models_failed = models.failed
        if not models.ok:
            failed = ", ".join([*models.failed, *models.skipped])
            raise StageFailed("models", f"model(s) failed or skipped: {failed}")
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
        shutil.rmtree(staging_dir, ignore_errors=True)
        run_stage("finish", finish, settings, summary)
    return summary


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


def quality_by_provider(warehouse: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of the ``quality_by_provider`` model (read-only)."""
    conn = load_mod.connect(warehouse, read_only=True)
    try:
        sql = "select * from quality_by_provider"
        if limit is not None:
            sql += f" limit {int(limit)}"
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
