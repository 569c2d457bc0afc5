"""flows/db.py: connections in UTC, the schema and its version check, transactions, records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows import db
from flows.records import StageFailed
from flows.settings import SQL_DIR


def test_a_writer_attaches_the_file_in_utc_and_a_reader_sees_what_it_wrote(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "w.duckdb"  # the folder is created for a writer
    conn = db.connect(path)
    try:
        assert conn.execute(
            "select current_database(), current_setting('TimeZone')"
        ).fetchone() == (
            db.CATALOG,
            "UTC",
        )
        conn.execute("create table t (seen_at timestamptz)")
        conn.execute("insert into t values ('2024-03-21 04:00:00-05:00')")
        other = db.cursor(conn)
        assert other.execute("select current_setting('TimeZone'), count(*) from t").fetchone() == (
            "UTC",
            1,
        )
    finally:
        conn.close()
    reader = db.connect(path, read_only=True)
    try:
        assert reader.execute("select seen_at from t").fetchone()[0] == dt.datetime(
            2024, 3, 21, 9, 0, tzinfo=dt.UTC
        )
    finally:
        reader.close()


def test_a_missing_file_fails_as_stage_connect_for_a_reader(tmp_path: Path) -> None:
    with pytest.raises(StageFailed) as failed:
        db.connect(tmp_path / "none.duckdb", read_only=True)
    assert failed.value.stage == "connect"
    assert failed.value.detail.startswith(f"cannot open warehouse {tmp_path / 'none.duckdb'}: ")
    with pytest.raises(duckdb.Error):
        db.open_connection(tmp_path / "none.duckdb", read_only=True)


def test_ensure_schema_records_the_version_and_refuses_another() -> None:
    conn = duckdb.connect()
    db.ensure_schema(conn, SQL_DIR)
    db.ensure_schema(conn, SQL_DIR)  # idempotent
    assert conn.execute("select key, value from etl.meta order by key").fetchall() == [
        ("created_by", "newsflow"),
        ("schema_version", db.SCHEMA_VERSION),
    ]
    conn.execute("update etl.meta set value = '1' where key = 'schema_version'")
    with pytest.raises(StageFailed) as failed:
        db.ensure_schema(conn, SQL_DIR)
    assert failed.value.stage == "begin"
    assert failed.value.detail == (
        f"the warehouse was built with schema version 1, this newsflow writes "
        f"{db.SCHEMA_VERSION}: rebuild it from the sources with `newsflow run --full-refresh`"
    )


def test_ensure_schema_marks_a_warehouse_made_before_the_mark() -> None:
    conn = duckdb.connect()
    db.ensure_schema(conn, SQL_DIR)
    conn.execute("delete from etl.meta where key = 'created_by'")  # as newsflow wrote it before
    db.ensure_schema(conn, SQL_DIR)
    assert conn.execute("select key, value from etl.meta order by key").fetchall() == [
        ("created_by", "newsflow"),
        ("schema_version", db.SCHEMA_VERSION),
    ]


def test_a_transaction_commits_with_its_tables_registered_then_unregisters_them() -> None:
    conn = duckdb.connect()
    conn.execute("create table t (x integer)")
    with db.transaction(conn, "load", "batch", {"stg": pa.table({"x": [1, 2]})}):
        conn.execute("insert into t select x from stg")
    assert conn.execute("select x from t order by x").fetchall() == [(1,), (2,)]
    with pytest.raises(duckdb.CatalogException):
        conn.execute("select * from stg")


def test_a_failed_transaction_rolls_back_and_names_its_stage() -> None:
    conn = duckdb.connect()
    conn.execute("create table t (x integer primary key)")
    with (
        pytest.raises(StageFailed) as failed,
        db.transaction(conn, "load", "batch", {"stg": pa.table({"x": [1, 1]})}),
    ):
        conn.execute("insert into t values (7)")
        conn.execute("insert into t select x from stg")  # duplicate key
    assert failed.value.stage == "load"
    assert failed.value.detail == (
        "batch rolled back: Constraint Error: PRIMARY KEY or UNIQUE constraint violation: "
        'duplicate key "1"'
    )
    assert conn.execute("select count(*) from t").fetchone() == (0,)  # the 7 too
    with pytest.raises(duckdb.CatalogException):
        conn.execute("select * from stg")


def test_a_transaction_that_duckdb_already_ended_reports_the_real_error() -> None:
    """A commit that fails (a full disk) ends the transaction: the rollback after it fails with
    "no transaction is active", which must not hide the error that happened."""
    conn = duckdb.connect()
    conn.execute("create table t (x integer)")
    with pytest.raises(StageFailed) as failed, db.transaction(conn, "load", "batch"):
        conn.execute("insert into t values (7)")
        conn.execute("commit")  # the transaction is over, as after a failed commit
        raise OSError(28, "No space left on device")
    assert failed.value.stage == "load"
    assert failed.value.detail == "batch rolled back: [Errno 28] No space left on device"


def test_records_are_dicts_in_column_order() -> None:
    conn = duckdb.connect()
    assert db.records(conn, "select 1 as a, ? as b union all select 2, 'y'", ["x"]) == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert db.records(conn, "select 1 as a where false") == []
