"""Parsing on a Dask cluster (prefect-dask): exactly the same warehouse as the local path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from flows.settings import REPO_ROOT, load_settings
from flows.tools.synth import write_corpus
from tests.cli.test_main import run_cli
from tests.conftest import CORPUS, query, table_contents

pytestmark = pytest.mark.slow
BATCH = 7
# etl tables without the columns that name the run or the time of loading.
ETL = {
    "rejection": "path, sha256, stage, kind, reason, line, col, excerpt",
    "file": "path, size, mtime_ns, sha256, contract_version, status, article_id",
    "warning": "article_id, path, field, message",
    "front_matter": "article_id, source_path, source_sha256, front_matter",
    "drift": "key_path, observed_type, expected_type, documents, example_path",
}


def contents(warehouse: Path) -> dict[str, list]:
    """Every warehouse table, and the ledger, quarantine and drift, in a stable order."""
    etl = {
        f"etl.{table}": [
            tuple(row.values())
            for row in query(warehouse, f"select {cols} from etl.{table} order by all")
        ]
        for table, cols in ETL.items()
    }
    return {**table_contents(warehouse), **etl}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds (with their re-crawled duplicate URL), the fixture corpus (rejected files, a
    duplicate pair) and a few synthetic documents: 13 batches of 7."""
    root = tmp_path_factory.mktemp("scaleout") / "corpus"
    shutil.copytree(REPO_ROOT / "seeds" / "articles", root / "seeds")
    shutil.copytree(CORPUS, root / "fixtures")
    write_corpus(root / "synth", 30, seed=11, duplicate_every=9)
    return root


@pytest.fixture(scope="module")
def local_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the local path (plain Python, no Prefect)."""
    warehouse = tmp_path_factory.mktemp("local") / "local.duckdb"
    settings = load_settings(
        env={}, sources=(corpus,), warehouse=warehouse, workers=1, batch_size=BATCH
    )
    summary = run_ingest(settings)
    assert summary.status == "success"
    assert summary.files_rejected > 0 and summary.files_superseded > 0
    return warehouse


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Dask cluster of 2 worker processes on the loopback interface; its scheduler address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as local:
        yield local.scheduler_address


def test_flow_on_a_dask_cluster_matches_the_local_path(
    harness: None, corpus: Path, local_run: Path, cluster: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    from flows.pipeline.flow import ingest

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    stored = set(storage.iterdir()) if storage.exists() else set()
    warehouse = tmp_path / "dask.duckdb"
    summary = ingest(
        sources=[str(corpus)],
        warehouse=str(warehouse),
        workers=2,
        batch_size=BATCH,
        dask_address=cluster,
    )
    assert summary["status"] == "success"
    assert contents(warehouse) == contents(local_run)

    # One Prefect task run per chunk, run on the cluster, as part of this flow run.
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=[summary["run_id"]])
            )
        )
    batches = -(-summary["files_seen"] // BATCH)
    assert batches == 13
    parsed = sorted(t.name for t in tasks if t.name.startswith("parse-chunk-"))
    assert parsed == sorted(f"parse-chunk-{i}" for i in range(batches))
    assert all(t.state and t.state.is_completed() for t in tasks)
    # Results travel back through Dask: nothing was persisted to result storage.
    assert (set(storage.iterdir()) if storage.exists() else set()) == stored


def test_cli_with_a_local_cluster_matches_the_local_path(
    corpus: Path, local_run: Path, tmp_path: Path
) -> None:
    """``--dask-address local`` on the temporary Prefect API the CLI starts."""
    proc = run_cli(
        "run",
        "--dask-address",
        "local",
        "--workers",
        "2",
        "--batch-size",
        str(BATCH),
        "--source",
        str(corpus),
        "--warehouse",
        "cli.duckdb",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "parse-chunk-12" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert contents(tmp_path / "cli.duckdb") == contents(local_run)


def test_dask_address_needs_prefect(tmp_path: Path) -> None:
    for args, env in [
        (("--dask-address", "local"), {}),
        ((), {"NEWSFLOW_DASK_ADDRESS": "tcp://127.0.0.1:8786"}),
    ]:
        proc = run_cli(
            "run", "--no-prefect", "--warehouse", "x.duckdb", *args, cwd=tmp_path, env=env
        )
        assert proc.returncode == 2
        assert "cannot be combined with --no-prefect" in proc.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_an_unreachable_scheduler_fails_the_extract_stage(tmp_path: Path) -> None:
    import dask

    from flows.pipeline.dask import stage_files_dask
    from flows.records import StageFailed

    source = tmp_path / "a.txt"
    source.write_text("---\ntitle: x\n---\n")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            StageFailed, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
        ),
    ):
        list(
            stage_files_dask(
                [(str(source), None)],
                tmp_path / "staging",
                address="tcp://127.0.0.1:9",
                workers=1,
                batch_size=10,
                max_file_bytes=1000,
            )
        )


def test_workers_that_cannot_see_the_sources_fail_early(tmp_path: Path) -> None:
    from flows.pipeline.dask import _check_workers_see
    from flows.records import StageFailed

    class Client:
        def run(self, fn: object, path: str) -> dict[str, bool]:
            return {"tcp://127.0.0.1:4001": True, "tcp://127.0.0.1:4002": False}

    with pytest.raises(StageFailed, match=r"tcp://127\.0\.0\.1:4002 cannot read .*shared"):
        _check_workers_see(Client(), str(tmp_path))  # type: ignore[arg-type]


def test_the_address_comes_from_the_env_and_reaches_the_deployment(tmp_path: Path) -> None:
    from flows.pipeline.flow import deployment_parameters

    env = {"NEWSFLOW_DASK_ADDRESS": "tcp://127.0.0.1:8786"}
    settings = load_settings(env=env, warehouse=tmp_path / "w.duckdb")
    assert settings.dask_address == "tcp://127.0.0.1:8786"
    assert load_settings(env=env, dask_address="local").dask_address == "local"
    parameters = deployment_parameters(settings, lock_retries=0)
    assert parameters["dask_address"] == "tcp://127.0.0.1:8786"


def test_plain_run_ingest_refuses_a_dask_address(tmp_path: Path) -> None:
    """Only the Prefect shell can parse on Dask: plain Python says so before touching anything."""
    settings = load_settings(env={}, warehouse=tmp_path / "x.duckdb", dask_address="local")
    with pytest.raises(ValueError, match="dask_address parses on a Dask cluster"):
        run_ingest(settings)
    assert list(tmp_path.iterdir()) == []
