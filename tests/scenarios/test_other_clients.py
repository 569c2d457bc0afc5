"""The published warehouse opens in other DuckDB clients: PyPI's duckdb-cli (1.5), which reads
storage up to v1.5, so also the 1.4 line (docs/duckdb-line.md); and an existing warehouse changes
storage format only by `newsflow warehouse upgrade|downgrade`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.db import STORAGE_VERSION, open_connection, storage_version
from flows.ingest import RunSummary, run_ingest
from flows.settings import Settings, load_settings
from tests.conftest import query, table_contents

BIN = Path(sys.executable).parent
DUCKDB_CLI = str(BIN / "duckdb")  # PyPI's duckdb-cli, from the test extras
NEWSFLOW = str(BIN / "newsflow")
ARTICLES = 48  # the seeds' distinct article URLs (seeds/README.md)


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RunSummary]:
    settings = load_settings(
        env={}, warehouse=tmp_path_factory.mktemp("clients") / "seeds.duckdb", workers=1
    )
    return settings, run_ingest(settings)


def cli(path: Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DUCKDB_CLI, "-readonly", "-csv", "-noheader", str(path), "-c", sql],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_duckdb_cli_opens_the_published_warehouse(seeds_run) -> None:
    settings, _ = seeds_run
    version = subprocess.run([DUCKDB_CLI, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v1.5.")
    counted = cli(settings.warehouse, "select count(*) from article")
    assert (counted.returncode, counted.stdout, counted.stderr) == (0, f"{ARTICLES}\n", "")


@pytest.mark.slow
def test_duckdb_cli_reads_models_timestamptz_json_and_comments(seeds_run) -> None:
    settings, _ = seeds_run
    expected = query(
        settings.warehouse,
        "select (select count(*) from stg_article) as staged, "
        "(select count(*) from topic_trends) as trends, "
        "(select count(*) from article where extra is not null) as with_extra",
    )[0]
    sql = (
        "set TimeZone = 'UTC'; "
        "select (select count(*) from stg_article), (select count(*) from topic_trends), "
        "(select count(*) from article where extra is not null); "
        "select typeof(published_at), published_at, typeof(extra) from article "
        "where source_path like '%000_ea677038ccb46893.txt'; "
        "select count(*) from duckdb_columns() where schema_name = 'main' "
        "and database_name = current_database() and not internal and comment is null"
    )
    out = cli(settings.warehouse, sql)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{expected['staged']},{expected['trends']},{expected['with_extra']}"
    assert expected["staged"] == ARTICLES and expected["trends"] > 0
    assert lines[1] == "TIMESTAMP WITH TIME ZONE,2020-12-17 17:43:00+00,JSON"
    assert lines[2] == "0"


def test_a_new_warehouse_is_written_in_the_1_4_storage_format(seeds_run) -> None:
    settings, _ = seeds_run
    conn = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert storage_version(conn) == f"{STORAGE_VERSION}+" == "v1.4.0+"
    finally:
        conn.close()


def test_an_existing_warehouse_keeps_its_storage_format(seeds_run, tmp_path: Path) -> None:
    """A warehouse written before (DuckDB 2.0's own format) keeps working, in that format."""
    settings, _ = seeds_run
    old = tmp_path / "old.duckdb"
    conn = duckdb.connect()
    conn.execute(f"attach '{settings.warehouse}' as source (read_only)")
    conn.execute(f"attach '{old}' as target (storage_version 'latest')")
    conn.execute("copy from database source to target")
    conn.close()
    rerun = run_ingest(settings.with_overrides(warehouse=old))
    assert rerun.status == "success" and rerun.files_unchanged == ARTICLES
    writer = open_connection(old)
    try:
        assert storage_version(writer) == "v2.0.0+"
    finally:
        writer.close()


@pytest.mark.slow
def test_warehouse_downgrade_and_upgrade_commands(seeds_run, tmp_path: Path) -> None:
    settings, _ = seeds_run
    path = tmp_path / "w.duckdb"
    shutil.copyfile(settings.warehouse, path)
    before = table_contents(path)

    def newsflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NEWSFLOW, "warehouse", *args, "--warehouse", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert newsflow("info").stdout == f"{path}: storage v1.4.0+\n"
    up = newsflow("upgrade")
    assert (up.returncode, up.stdout) == (0, f"{path}: storage v1.4.0+ -> v2.0.0+\n"), up.stderr
    refused = cli(path, "select count(*) from article")
    assert refused.returncode != 0
    assert "version number 69, but we can only read versions between 64 and 68" in refused.stderr
    assert table_contents(path) == before
    down = newsflow("downgrade")
    assert (down.returncode, down.stdout) == (0, f"{path}: storage v2.0.0+ -> v1.4.0+\n")
    assert cli(path, "select count(*) from article").stdout == f"{ARTICLES}\n"
    assert table_contents(path) == before
    comments = query(
        path, "select count(comment) as n from duckdb_columns() where table_name = 'article'"
    )
    assert comments == [{"n": 21}]
    assert not list(tmp_path.glob(".w.duckdb.publishing"))
    missing = subprocess.run(
        [NEWSFLOW, "warehouse", "upgrade", "--warehouse", str(tmp_path / "none.duckdb")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    usage = subprocess.run(
        [NEWSFLOW, "warehouse", "sideways", "--warehouse", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert usage.returncode == 2
