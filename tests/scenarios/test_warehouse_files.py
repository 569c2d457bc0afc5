"""The warehouse files (docs/warehouse-files.md), with real processes and real files: a file
newsflow did not create is refused untouched; a copy killed midway never becomes the working
copy; a full disk reports its own error; a failed publish is recorded failed and leaves nothing.

The full-disk cases use a small tmpfs (mounting needs root: skipped otherwise); the copy cut
short is a file size limit (RLIMIT_FSIZE: Python ignores SIGXFSZ, so the write fails with EFBIG
halfway, as on a full disk, on any machine). What a kill -9 leaves is a partial file; the
truncated-copy test writes one.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows import db
from flows.load.publish import files_for
from flows.records import StageFailed
from flows.settings import DEFAULT_SOURCE
from tests.conftest import query, table_contents

pytestmark = pytest.mark.slow
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
WAY_OUT = (
    "newsflow only writes warehouses it created and never modifies another file "
    "(--full-refresh included): choose another --warehouse path, or move this one away"
)


def newsflow(*args: str, file_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:  # in the child: files may not grow past file_limit bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, resource.RLIM_INFINITY))

    return subprocess.run(
        [NEWSFLOW, *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        preexec_fn=limit if file_limit is not None else None,
    )


def run(warehouse: Path, *more: str, file_limit: int | None = None) -> subprocess.CompletedProcess:
    return newsflow(
        "run", "--no-prefect", "-q", "--source", str(DEFAULT_SOURCE), "--warehouse",
        str(warehouse), *more, file_limit=file_limit,
    )  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs of its own (a disk that can really fill up), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
    return filler


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def test_a_file_newsflow_did_not_create_is_refused_untouched_full_refresh_included(
    tmp_path: Path,
) -> None:
    conn = duckdb.connect(str(tmp_path / "crm.duckdb"))
    conn.execute("create table customers (id integer)")
    conn.close()
    conn = duckdb.connect(str(tmp_path / "shop.duckdb"))
    conn.execute("create table article (sku varchar)")
    conn.close()
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "folder").mkdir()
    foreign = "is a DuckDB database that newsflow did not create (its etl.meta has no " \
        "created_by = 'newsflow' or schema_version)"  # fmt: skip
    reasons = {
        "crm.duckdb": foreign,
        "shop.duckdb": foreign,
        "notes.txt": "is not a DuckDB database, so not a newsflow warehouse",
        "folder": "is a folder, not a warehouse file",
    }
    before = _snapshot(tmp_path)
    for name, reason in reasons.items():
        for more in ([], ["--full-refresh"]):
            done = run(tmp_path / name, *more)
            assert (done.returncode, done.stderr) == (
                1,
                f"newsflow: warehouse failed: {tmp_path / name} {reason}; {WAY_OUT}\n",
            ), (name, more)
    assert _snapshot(tmp_path) == before  # not a byte changed, no hidden folder, no lock


def test_a_copy_cut_short_never_becomes_the_working_copy(tmp_path: Path) -> None:
    warehouse = tmp_path / "news.duckdb"
    assert run(warehouse).returncode == 0
    expected = table_contents(warehouse)
    files = files_for(warehouse)
    files.working.unlink()  # the hidden folder's copy is gone: the next run copies the file
    size = warehouse.stat().st_size
    cut = run(warehouse, file_limit=size // 2)  # the copy fails halfway (EFBIG, as a full disk)
    assert sorted(p.name for p in files.home.iterdir()) == ["writer.lock"]  # no partial copy
    assert (cut.returncode, cut.stderr) == (1, (
        f"newsflow: begin failed: cannot copy {warehouse} to make the working copy: [Errno 27] "
        f"File too large: '{warehouse}' -> '{files.home}/working.duckdb.copying'\n"
    ))  # fmt: skip
    status = newsflow("status", "--warehouse", str(warehouse))
    assert status.returncode == 0
    assert "(published warehouse)" in status.stdout.splitlines()[0]
    assert "open by a writer" not in status.stdout + status.stderr
    again = run(warehouse)
    assert (again.returncode, again.stderr) == (0, "")
    assert table_contents(warehouse) == expected
    runs = query(warehouse, "select status, files_loaded from etl.run order by started_at")
    assert runs == [{"status": "success", "files_loaded": 48}, {"status": "success",
                    "files_loaded": 0}]  # fmt: skip


def test_a_truncated_working_copy_is_rebuilt_by_the_next_run(tmp_path: Path) -> None:
    warehouse = tmp_path / "news.duckdb"
    assert run(warehouse).returncode == 0
    expected = table_contents(warehouse)
    working = files_for(warehouse).working
    for fraction in (0.9, 0.5, 0.01):
        os.truncate(working, int(working.stat().st_size * fraction))
        again = run(warehouse)
        assert (again.returncode, again.stderr) == (0, ""), fraction
    assert table_contents(warehouse) == expected
    assert query(warehouse, "select count(*) as n from etl.run where status = 'success'") == [
        {"n": 4}
    ]


def test_a_full_disk_at_commit_reports_the_disk_error(small_disk: Path) -> None:
    conn = db.connect(small_disk / "w.duckdb")
    try:
        conn.execute("create table t (x integer)")
        conn.execute("checkpoint")
        fill(small_disk, leave=0)
        with (
            pytest.raises(StageFailed) as failed,
            db.transaction(conn, "load", "batch", {"stg": pa.table({"x": [1, 2]})}),
        ):
            conn.execute("insert into t select x from stg")
    finally:
        conn.close()
    assert failed.value.stage == "load"
    assert failed.value.detail == (
        'batch rolled back: TransactionContext Error: Failed to commit: Could not write file "'
        f'{small_disk}/w.duckdb.wal": No space left on device'
    )


def test_a_failed_publish_is_recorded_failed_and_leaves_nothing_behind(small_disk: Path) -> None:
    warehouse = small_disk / "news.duckdb"
    assert run(warehouse).returncode == 0
    published = warehouse.read_bytes()
    files = files_for(warehouse)
    # Room for the run's changes to the working copy, not for a second copy of it.
    filler = fill(small_disk, leave=files.working.stat().st_size // 2)
    failed = run(warehouse)
    filler.unlink()
    rows = query(files.working, "select status, error from etl.run order by started_at")
    assert rows == [
        {"status": "success", "error": None},
        {"status": "failed", "error": failed.stderr.removeprefix("newsflow: ").strip()},
    ]
    assert sorted(p.name for p in small_disk.iterdir()) == [".news.duckdb.newsflow", "news.duckdb"]
    assert warehouse.read_bytes() == published
    assert (failed.returncode, failed.stderr) == (1, (
        f"newsflow: publish failed: cannot publish {warehouse} ([Errno 28] No space left on "
        f"device: '{files.working}' -> '{small_disk}/.news.duckdb.publishing'); the published "
        "warehouse is unchanged\n"
    ))  # fmt: skip
    status = newsflow("status", "--warehouse", str(warehouse))
    assert [line.split()[2] for line in status.stdout.splitlines()[2:4]] == ["failed", "success"]
    again = run(warehouse)
    assert (again.returncode, again.stderr) == (0, "")
    assert query(warehouse, "select status from etl.run order by started_at") == [
        {"status": "success"}, {"status": "failed"}, {"status": "success"},
    ]  # fmt: skip
