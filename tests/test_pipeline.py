"""The Prefect flow under prefect_test_harness: tasks per stage, artifacts, same rows as the core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.core import RunSummary
from flows.settings import Settings
from flows.warehouse import files_for
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
    assert (summary["files_seen"], summary["files_loaded"], summary["files_rejected"]) == (10, 4, 4)
    assert set(summary["seconds"]) == {
        "discover",
        "plan",
        "extract",
        "load",
        "models",
        "data_tests",
    }
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
    models = [f"model:{name}" for name in summary["models_built"]]
    assert len(models) == 10
    assert sorted(t.name.rsplit("-", 1)[0] for t in tasks) == sorted(
        [
            "begin",
            "discover",
            "plan",
            "extract",
            "load",
            "models",
            *models,
            "data_tests",
            "finish",
            "publish",
        ]
    )
    assert all(t.state and t.state.is_completed() for t in tasks)
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"ingest-summary", "quality-by-provider", "data-tests", "drift"}
    assert str(by_key["data-tests"].data).startswith(
        f"# Data tests: {len(summary['data_tests'])} passed, 0 warned, 0 failed, 0 errored"
    )
    assert "| 10 | 4 | 4 | 1 (0 + 1) | 1 | 5 |" in str(by_key["ingest-summary"].data)
    assert "language" in str(by_key["drift"].data)
    assert "Example News Ltd" in str(by_key["quality-by-provider"].data)


def test_failed_stage_fails_the_flow_and_names_it(harness: None, tmp_path: Path) -> None:
    from flows.pipeline import ingest
    from flows.records import StageFailed

    with pytest.raises(StageFailed, match="discover failed: source not found"):
        ingest(sources=[str(tmp_path / "missing")], warehouse=str(tmp_path / "w.duckdb"))
    [run] = query(files_for(tmp_path / "w.duckdb").working, "select status, error from etl.run")
    assert run["status"] == "failed"


def test_failing_data_test_fails_the_flow_after_publishing_results(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows import pipeline
    from flows.records import StageFailed
    from flows.settings import SQL_DIR

    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    (sql / "tests" / "always_fails.sql").write_text("-- always_fails: never true\nselect 1 as x")
    original = pipeline.load_settings
    monkeypatch.setattr(pipeline, "load_settings", lambda **kw: original(sql_dir=sql, **kw))
    with pytest.raises(
        StageFailed, match=r"data_tests failed: .* 1 failed, 0 errored: always_fails"
    ):
        pipeline.ingest(sources=[str(CORPUS)], warehouse=str(tmp_path / "w.duckdb"), workers=1)
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["data-tests"])),
            limit=1,
            sort="CREATED_DESC",
        )
    assert "| fail | `always_fails` | error | never true | 1 |" in str(artifact.data)
