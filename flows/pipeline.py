"""Prefect shell: the ``ingest`` flow, one task per stage of :func:`flows.core.run_ingest`.

This is the only module that imports Prefect. The stage logic lives in the core; here each stage
is wrapped in a task and the summary is published as artifacts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows import core, datatests
from flows.settings import load_settings


def run_as_task(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one core stage as a Prefect task named after the stage."""
    return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)(*args)


def publish_data_tests(results: list[dict[str, Any]]) -> None:
    """The data-test results as the markdown artifact ``data-tests`` (also when they fail)."""
    create_markdown_artifact(datatests.render_markdown(results), key="data-tests")


def _plain(value: Any) -> Any:
    """Artifact tables are JSON: timestamps become ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else value


@flow(name="ingest", log_prints=False, persist_result=False)
def ingest(
    sources: list[str] | None = None,
    warehouse: str | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    max_file_bytes: int | None = None,
    full_refresh: bool = False,
    prune: bool = False,
    lock_timeout: float | None = None,
) -> dict[str, Any]:
    """Load article front matter from ``sources`` into the DuckDB ``warehouse`` and build models."""
    settings = load_settings(
        sources=tuple(Path(s) for s in sources) if sources else None,
        warehouse=Path(warehouse) if warehouse else None,
        workers=workers,
        batch_size=batch_size,
        max_file_bytes=max_file_bytes,
        full_refresh=full_refresh or None,
        prune=prune or None,
        lock_timeout=lock_timeout,
    )
    summary = core.run_ingest(
        settings,
        run_stage=run_as_task,
        flow_run_id=str(flow_run.id),
        on_data_tests=publish_data_tests,
    )
    create_markdown_artifact(summary.to_markdown(), key="ingest-summary")
    if summary.drift:
        create_table_artifact([dict(d) for d in summary.drift], key="drift")
    quality = core.quality_by_provider(settings.warehouse)
    if quality:
        table = [{k: _plain(v) for k, v in row.items()} for row in quality]
        create_table_artifact(table, key="quality-by-provider")
    get_run_logger().info(
        "loaded %d, unchanged %d, superseded %d, rejected %d of %d files",
        summary.files_loaded,
        summary.files_unchanged,
        summary.files_superseded,
        summary.files_rejected,
        summary.files_seen,
    )
    return summary.to_dict()
