"""Shared fixtures: the tiny golden corpus, temp warehouses, an in-memory DuckDB."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from flows.db import ensure_schema
from flows.ingest import RunSummary, run_ingest
from flows.settings import SQL_DIR, Settings, load_settings

# The slow-marker guards (tests/guards.py): pytest finds these hooks by name in this module.
from tests.guards import (  # noqa: F401
    pytest_collection_modifyitems,
    pytest_runtest_call,
    pytest_runtest_setup,
)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "fixtures" / "corpus"
SEED = CORPUS / "seed.txt"
REPO = TESTS.parent
TABLE_ORDER = {
    "provider": "provider_id",
    "article": "article_id",
    "related": "related_id",
    "image": "image_id",
    "topic": "topic_id",
    "article_topic": "article_id, topic_id",
}


@pytest.fixture
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture
def memdb() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    ensure_schema(conn, SQL_DIR)
    yield conn
    conn.close()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(*sources: Path, **overrides: object) -> Settings:
        overrides.setdefault("warehouse", tmp_path / "wh" / "test.duckdb")
        overrides.setdefault("workers", 1)
        return load_settings(env={}, sources=tuple(sources) or (CORPUS,), **overrides)

    return build


@pytest.fixture
def copy_corpus(tmp_path: Path) -> Callable[..., Path]:
    """Copy chosen fixture files into a fresh folder and return it."""

    def copy(*names: str, into: str = "src") -> Path:
        target = tmp_path / into
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(CORPUS / name, target / name)
        return target

    return copy


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect API for every flow test of the session (prefect_test_harness)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def harness(prefect_api: None) -> Iterator[None]:
    """A flow test against the session's Prefect API; afterwards, its events client is closed.

    Left open, that client's websocket sends a keepalive ping every 20 s, and the ping's payload
    comes from the global ``random`` (websockets): Hypothesis reports any change to that state
    while it generates examples, so a ping landing in a later property test was reported as
    "Do not use the `random` module inside strategies".
    """
    from prefect.events.worker import EventsWorker

    yield
    EventsWorker.drain_all(timeout=30, at_exit=False)


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RunSummary]:
    """The golden corpus loaded once per session (plain Python, no Prefect)."""
    warehouse = tmp_path_factory.mktemp("fixture") / "fixture.duckdb"
    settings = load_settings(env={}, sources=(CORPUS,), warehouse=warehouse, workers=1)
    return settings, run_ingest(settings)


def table_contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every warehouse table, in key order."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: conn.execute(f"select * from {table} order by {key}").fetchall()
            for table, key in TABLE_ORDER.items()
        }
    finally:
        conn.close()


def query(path: Path, sql: str, params: object = None) -> list[dict]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
