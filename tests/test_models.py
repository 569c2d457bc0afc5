"""Models: exact values of quality_by_provider, dependency order, and errors that name files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from flows.core import RunSummary
from flows.models import discover_models, order_models, referenced_relations, run_models
from flows.normalize import make_id
from flows.records import StageFailed
from flows.settings import Settings
from tests.conftest import query

UTC = dt.UTC


def test_quality_by_provider_exact_values(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, summary = fixture_run
    assert summary.models_built == ["quality_by_provider"]
    rows = query(settings.warehouse, "select * from quality_by_provider")
    assert rows == [
        {
            "provider_id": make_id("provider", "example.com"),
            "provider_name": "Example News Ltd",
            "domain": "example.com",
            "article_count": 3,
            "rated_article_count": 3,
            "mean_quality": 65.67,  # (70 + 72 + 55) / 3
            "median_quality": 70.0,
            "published_share": 1.0,
            "first_published_at": dt.datetime(2021, 2, 3, 2, 5, 6, tzinfo=UTC),
            "last_published_at": dt.datetime(2021, 5, 1, 11, 0, tzinfo=UTC),
        },
        {
            "provider_id": make_id("provider", "aljazeera.com"),
            "provider_name": "Al Jazeera English",
            "domain": "aljazeera.com",
            "article_count": 1,
            "rated_article_count": 1,
            "mean_quality": 61.0,
            "median_quality": 61.0,
            "published_share": 0.0,
            "first_published_at": dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
            "last_published_at": dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
        },
    ]


def test_referenced_relations_use_the_sql_parser(memdb: duckdb.DuckDBPyConnection) -> None:
    sql = """
        with recent as (select * from article where published_at > now() - interval 1 day)
        select * from recent join provider using (provider_id)
        where article_id in (select article_id from etl.warning)
    """
    assert referenced_relations(memdb, sql) == {"article", "provider", "etl.warning"}


def _write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(sql)


def test_models_run_in_dependency_order_whatever_the_file_names(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models / "marts", "a_top", "select * from m_middle where n > 0")
    _write(models / "staging", "m_middle", "select count(*) as n from z_base")
    _write(models, "z_base", "-- materialized: table\nselect * from article")
    result = run_models(memdb, models)
    assert result.built == ["z_base", "m_middle", "a_top"]
    kinds = dict(memdb.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'main'"
        " and table_name in ('z_base', 'm_middle', 'a_top')"
    ).fetchall())  # fmt: skip
    assert kinds == {"z_base": "BASE TABLE", "m_middle": "VIEW", "a_top": "VIEW"}


def test_unknown_reference_names_the_file(tmp_path: Path, memdb: duckdb.DuckDBPyConnection) -> None:
    _write(tmp_path / "models", "orphan", "select * from gone_upstream")
    with pytest.raises(
        StageFailed, match=r"orphan\.sql: model 'orphan' reads unknown relation\(s\): gone_upstream"
    ):
        order_models(memdb, discover_models(memdb, tmp_path / "models"))


def test_cycle_names_the_files(tmp_path: Path, memdb: duckdb.DuckDBPyConnection) -> None:
    _write(tmp_path / "models", "first", "select * from second")
    _write(tmp_path / "models", "second", "select * from first")
    with pytest.raises(StageFailed, match=r"models form a cycle: .*(first|second)\.sql -> .*\.sql"):
        order_models(memdb, discover_models(memdb, tmp_path / "models"))


def test_failing_model_skips_only_its_dependents(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models, "broken", "select no_such_column from article")
    _write(models, "downstream", "select * from broken")
    _write(models, "fine", "select count(*) as n from article")
    result = run_models(memdb, models)
    assert result.built == ["fine"]
    assert result.skipped == ["downstream"]
    assert list(result.failed) == ["broken"]
    assert "broken.sql" in result.failed["broken"]
    assert "no_such_column" in result.failed["broken"]


def test_model_can_switch_between_view_and_table(
    tmp_path: Path, memdb: duckdb.DuckDBPyConnection
) -> None:
    models = tmp_path / "models"
    _write(models, "flip", "select 1 as x")
    assert run_models(memdb, models).built == ["flip"]
    _write(models, "flip", "-- materialized: table\nselect 2 as x")
    assert run_models(memdb, models).built == ["flip"]
    assert memdb.execute("select x from flip").fetchall() == [(2,)]
