"""The Prefect flow under prefect_test_harness: tasks per stage, artifacts, same rows as the core."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from flows.ingest import RunSummary
from flows.load.publish import files_for
from flows.settings import Settings
from tests.conftest import CORPUS, query, table_contents

pytestmark = pytest.mark.slow


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

    from flows.pipeline.flow import ingest

    warehouse = tmp_path / "flow.duckdb"
    summary = ingest(sources=[str(CORPUS)], warehouse=str(warehouse), workers=2)
    assert summary["status"] == "success"
    assert (summary["files_seen"], summary["files_loaded"], summary["files_rejected"]) == (10, 4, 4)
    assert set(summary["seconds"]) == {
        "begin",
        "finish",
        "publish",
        "discover",
        "plan",
        "extract",
        "load",
        "parse_and_load",
        "search",
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
            "lock",
            "begin",
            "discover",
            "plan",
            "extract",
            "parse_and_load",
            "search",
            "models",
            *models,
            "data_tests",
            "finish",
            "publish",
        ]
    )
    assert all(t.state and t.state.is_completed() for t in tasks)
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {
        "ingest-summary",
        "quality-by-provider",
        "data-tests",
        "drift",
        "rejections",
    }
    assert str(by_key["data-tests"].data).startswith(
        f"# Data tests: {len(summary['data_tests'])} passed, 0 warned, 0 failed, 0 errored"
    )
    assert "| 10 | 4 | 4 | 1 (0 + 1) | 1 | 6 |" in str(by_key["ingest-summary"].data)  # 6 warnings
    assert_honest_stage_times(summary["seconds"], str(by_key["ingest-summary"].data))
    assert "language" in str(by_key["drift"].data)
    assert "Example News Ltd" in str(by_key["quality-by-provider"].data)
    assert json.loads(by_key["rejections"].data) == [
        {"location": r["location"], "reason": r["reason"], "kind": r["kind"]}
        for r in summary["rejections"]
    ]
    assert len(summary["rejections"]) == 4


def assert_honest_stage_times(seconds: dict[str, float], markdown: str) -> None:
    """The parse runs inside the load (streaming): the task holding both is named for both
    (``parse_and_load``; ``extract`` only starts the workers), and the summary artifact splits
    its wall time into parsing, merging and waiting, from the run's own stage seconds."""
    wall, parsing, merging = seconds["parse_and_load"], seconds["extract"], seconds["load"]
    assert f"| parse_and_load | {wall:.3f} |" in markdown
    assert f"Task `parse_and_load` took {wall:.3f} s" in markdown
    assert f"| parsing (workers, wall: `extract`) | {parsing:.3f} |" in markdown
    assert f"| merging (busy: `load`) | {merging:.3f} |" in markdown
    assert f"| waiting for the workers | {max(0.0, wall - merging):.3f} |" in markdown


def test_failed_stage_fails_the_flow_and_names_it(harness: None, tmp_path: Path) -> None:
    from flows.pipeline.flow import ingest
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

    from flows.pipeline import flow as pipeline
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


def test_failed_run_ends_failed_naming_the_stage_and_publishes_nothing(
    harness: None, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.pipeline.flow import ingest

    warehouse = tmp_path / "w.duckdb"
    missing = tmp_path / "missing"
    state = ingest(sources=[str(missing)], warehouse=str(warehouse), return_state=True)
    assert state.is_failed()
    assert state.message == f"discover failed: source not found: {missing}"
    assert not warehouse.exists()
    [run] = query(files_for(warehouse).working, "select run_id, status, error from etl.run")
    assert run["status"] == "failed"
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run["run_id"]])
            )
        )
    assert artifact.key == "ingest-summary"
    assert str(artifact.data).startswith(
        f"# newsflow ingest `{run['run_id']}`: failed at stage `discover`\n"
    )


def _hold_lock(warehouse: Path, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another writer: hold the warehouse lock in a thread for ``seconds`` (or until set)."""
    from flows.load.publish import writer_lock

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(files_for(warehouse), "other-run", 5):
            held.set()
            release.wait(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    return thread, release


def _lock_task_runs(flow_run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
        )
    return [t for t in tasks if t.name.startswith("lock-")]


def test_busy_warehouse_is_retried_with_backoff(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import flow as pipeline

    monkeypatch.setattr(pipeline, "LOCK_BACKOFF_SECONDS", 0.5)  # 0.5, 1, 2 s instead of 10, 20, 40
    warehouse = tmp_path / "busy.duckdb"
    thread, _ = _hold_lock(warehouse, seconds=1.0)
    summary = pipeline.ingest(
        sources=[str(CORPUS)], warehouse=str(warehouse), workers=1, lock_timeout=0.1,
        lock_retries=3,
    )  # fmt: skip
    thread.join()
    assert summary["status"] == "success"
    [lock] = _lock_task_runs(summary["run_id"])
    assert lock.state.is_completed()
    assert lock.run_count >= 2  # failed at least once while the other writer held the lock


def test_busy_warehouse_fails_after_the_retries_naming_the_holder(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import flow as pipeline

    monkeypatch.setattr(pipeline, "LOCK_BACKOFF_SECONDS", 0.1)
    warehouse = tmp_path / "held.duckdb"
    thread, release = _hold_lock(warehouse, seconds=60)
    try:
        state = pipeline.ingest(
            sources=[str(CORPUS)], warehouse=str(warehouse), lock_timeout=0, lock_retries=1,
            return_state=True,
        )  # fmt: skip
    finally:
        release.set()
        thread.join()
    assert state.is_failed()
    assert state.message.startswith(
        f"lock failed: another newsflow run holds the warehouse {warehouse} (run other-run, pid "
    )
    [lock] = _lock_task_runs(str(state.state_details.flow_run_id))
    assert (lock.run_count, lock.state.is_failed()) == (2, True)
    assert not warehouse.exists() and not files_for(warehouse).working.exists()


def test_other_failures_are_not_retried(harness: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    from flows.pipeline.flow import ingest

    state = ingest(
        sources=[str(tmp_path / "missing")], warehouse=str(tmp_path / "w.duckdb"),
        lock_retries=3, return_state=True,
    )  # fmt: skip
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    discover = [t for t in tasks if t.name.startswith("discover-")]
    assert [(t.run_count, t.state.is_failed()) for t in discover] == [(1, True)]


def test_strict_fails_the_run_after_publishing(harness: None, tmp_path: Path) -> None:
    from flows.pipeline.flow import ingest

    warehouse = tmp_path / "strict.duckdb"
    state = ingest(
        sources=[str(CORPUS)], warehouse=str(warehouse), workers=1, strict=True, return_state=True
    )
    assert state.is_failed()
    assert state.message == (
        "strict failed: 4 document(s) rejected (the run was published); "
        f"see `newsflow rejections --warehouse {warehouse}`"
    )
    assert query(warehouse, "select count(*) as n from article") == [{"n": 4}]


def test_ad_hoc_runs_send_no_heartbeats_unless_the_user_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A foreground run drops Prefect's heartbeat thread (its stop costs up to 1 s at the end);
    a frequency the user set, under either of Prefect's names, is kept."""
    from prefect.settings import get_current_settings, temporary_settings

    from flows.pipeline.flow import HEARTBEAT_ENV, _ad_hoc_settings

    for name in HEARTBEAT_ENV:
        monkeypatch.delenv(name, raising=False)
    assert get_current_settings().flows.heartbeat_frequency == 180  # Prefect's default
    with temporary_settings(_ad_hoc_settings()):
        assert get_current_settings().flows.heartbeat_frequency is None
    for name in HEARTBEAT_ENV:
        monkeypatch.setenv(name, "60")
        assert _ad_hoc_settings() == {}
        monkeypatch.delenv(name)
