"""The Prefect flow under prefect_test_harness: tasks per stage, artifacts, same rows as the core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.core import RunSummary
from flows.settings import Settings
from tests.conftest import CORPUS, query, table_contents

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_ingest_flow_matches_the_core_and_publishes_artifacts(
    harness: None, tmp_path: Path, fixture_run: tuple[Settings, RunSummary]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    from flows.pipeline import ingest

    warehouse = tmp_path / "flow.duckdb"
    summary = ingest(sources=[str(CORPUS)], warehouse=str(warehouse), workers=2)
    assert summary["status"] == "success"
    assert (summary["files_seen"], summary["files_loaded"], summary["files_rejected"]) == (9, 4, 4)
    assert set(summary["seconds"]) == {"discover", "extract", "load", "models"}
    settings, _ = fixture_run
    assert table_contents(warehouse) == table_contents(settings.warehouse)

    [run] = query(warehouse, "select run_id, flow_run_id, status from etl.run")
    assert run == {
        "run_id": summary["run_id"],
        "flow_run_id": summary["run_id"],
        "status": "success",
    }
    flow_run_id = summary["run_id"]
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    assert sorted(t.name.rsplit("-", 1)[0] for t in tasks) == sorted(
        ["begin", "discover", "extract", "load", "models", "finish"]
    )
    assert all(t.state and t.state.is_completed() for t in tasks)
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"ingest-summary", "quality-by-provider"}
    assert "| 9 | 4 | 0 | 1 | 4 | 5 |" in str(by_key["ingest-summary"].data)
    assert "Example News Ltd" in str(by_key["quality-by-provider"].data)


def test_failed_stage_fails_the_flow_and_names_it(harness: None, tmp_path: Path) -> None:
    from flows.pipeline import ingest
    from flows.records import StageFailed

    with pytest.raises(StageFailed, match="discover failed: source not found"):
        ingest(sources=[str(tmp_path / "missing")], warehouse=str(tmp_path / "w.duckdb"))
    [run] = query(tmp_path / "w.duckdb", "select status, error from etl.run")
    assert run["status"] == "failed"
