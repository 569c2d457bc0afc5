"""flows/load/publish.py: newsflow writes only its own warehouse files; the working copy is made
by copy-then-rename and checked before use; a failed publish leaves nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from flows.ingest import run_ingest
from flows.load.publish import (
    check_published,
    files_for,
    prepare_working,
    rewrite_storage,
    working_copy_usable,
    writer_lock,
)
from flows.records import StageFailed
from flows.settings import Settings
from tests.conftest import query, table_contents

WAY_OUT = (
    "newsflow only writes warehouses it created and never modifies another file "
    "(--full-refresh included): choose another --warehouse path, or move this one away"
)


def _duckdb_file(path: Path, *sql: str) -> Path:
    conn = duckdb.connect(str(path))
    for statement in sql:
        conn.execute(statement)
    conn.close()
    return path


def _foreign(kind: str, folder: Path) -> tuple[Path, str]:
    """A path newsflow did not create, and the refusal it gets."""
    if kind == "customers":
        path = _duckdb_file(folder / "crm.duckdb", "create table customers (id integer)")
    elif kind == "article":
        path = _duckdb_file(folder / "crm.duckdb", "create table article (article_id varchar)")
    elif kind == "text":
        path = folder / "notes.txt"
        path.write_text("my notes\n")
    elif kind == "empty":
        path = folder / "empty.duckdb"
        path.write_bytes(b"")
    else:
        path = folder / "folder.duckdb"
        path.mkdir()
        (path / "inside.txt").write_text("x")
    reason = {
        "customers": "is a DuckDB database that newsflow did not create (its etl.meta has no "
        "created_by = 'newsflow' or schema_version)",
        "article": "is a DuckDB database that newsflow did not create (its etl.meta has no "
        "created_by = 'newsflow' or schema_version)",
        "text": "is not a DuckDB database, so not a newsflow warehouse",
        "empty": "is not a DuckDB database, so not a newsflow warehouse",
        "folder": "is a folder, not a warehouse file",
    }[kind]
    return path, f"{path} {reason}; {WAY_OUT}"


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("kind", ["customers", "article", "text", "empty", "folder"])
def test_a_file_newsflow_did_not_create_is_refused_before_anything_is_written(
    kind: str, tmp_path: Path
) -> None:
    path, message = _foreign(kind, tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(StageFailed) as failed, writer_lock(files_for(path), "r1", 0):
        pass
    assert (failed.value.stage, failed.value.detail) == ("warehouse", message)
    assert _snapshot(tmp_path) == before  # no lock, no hidden folder, the file untouched


def test_a_newsflow_warehouse_is_accepted_with_or_without_the_mark(tmp_path: Path) -> None:
    marked = _duckdb_file(
        tmp_path / "a.duckdb",
        "create schema etl",
        "create table etl.meta (key varchar primary key, value varchar not null)",
        "insert into etl.meta values ('created_by', 'newsflow')",
    )
    older = _duckdb_file(
        tmp_path / "b.duckdb",
        "create schema etl",
        "create table etl.meta (key varchar primary key, value varchar not null)",
        "insert into etl.meta values ('schema_version', '2')",
    )
    for path in (marked, older, tmp_path / "not-yet.duckdb"):
        assert check_published(files_for(path)) is None


def test_a_truncated_working_copy_is_rebuilt_from_the_published_file(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    run_ingest(settings)
    expected = table_contents(settings.warehouse)
    files = files_for(settings.warehouse)
    size = files.working.stat().st_size
    os.truncate(files.working, size // 2)  # what a kill or a full disk left during the copy
    assert working_copy_usable(files.working) is False
    summary = run_ingest(settings)
    assert (summary.status, summary.published, summary.files_loaded) == ("success", True, 0)
    assert working_copy_usable(files.working) is True
    assert table_contents(settings.warehouse) == expected
    runs = query(settings.warehouse, "select status from etl.run order by started_at")
    assert runs == [{"status": "success"}, {"status": "success"}]


def test_a_working_copy_is_made_by_copy_then_rename_and_a_stale_log_is_dropped(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    run_ingest(settings)
    files = files_for(settings.warehouse)
    files.working.unlink()  # the hidden folder's copy is gone (restored from a backup, say)
    wal = files.working.with_name("working.duckdb.wal")
    wal.write_bytes(b"a log of a working copy that no longer exists")
    files.copying.write_bytes(b"the start of a copy that was killed")
    files.publishing.write_bytes(b"the start of a publish that was killed")
    prepare_working(files, full_refresh=False)
    assert files.working.read_bytes() == files.published.read_bytes()
    assert [p.exists() for p in (wal, files.copying, files.publishing)] == [False, False, False]


def test_rewrite_storage_changes_the_format_and_keeps_every_row_and_comment(
    fixture_run: tuple[Settings, object], tmp_path: Path
) -> None:
    settings, _ = fixture_run
    published = tmp_path / "w.duckdb"
    published.write_bytes(settings.warehouse.read_bytes())
    files = files_for(published)
    files.home.mkdir()
    files.working.write_bytes(published.read_bytes())
    before = table_contents(published)
    comments = "select table_name, column_name, comment from duckdb_columns() order by all"
    described = query(published, comments)

    assert rewrite_storage(files, "latest") == ("v1.4.0+", "v2.0.0+")
    assert not files.working.exists() and not files.publishing.exists()
    assert table_contents(published) == before
    assert query(published, comments) == described
    assert rewrite_storage(files, "v1.4.0") == ("v2.0.0+", "v1.4.0+")
    assert table_contents(published) == before

    with pytest.raises(StageFailed, match="does not exist: nothing to rewrite"):
        rewrite_storage(files_for(tmp_path / "none.duckdb"), "v1.4.0")
