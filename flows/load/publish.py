"""Where a warehouse lives on disk: one writer, many readers, atomic publication.

``--warehouse out/x.duckdb`` names the **published** file that readers open. A run never writes it
in place: it takes the writer lock, works on a private copy in ``out/.x.duckdb.newsflow/``, and when
the run has succeeded, copies that file next to the published one and renames it over it
(``os.replace`` is atomic). A reader that holds ``duckdb.connect(path, read_only=True)`` keeps the
file it opened — the previous complete run — and never blocks the writer; a new connection sees
the new run. Nothing half-done is ever published.

Cost: the warehouse exists twice on disk (working + published), and each successful run copies the
file once (sequential I/O, about a second per GB from the page cache).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from flows.db import connect
from flows.records import StageFailed


@dataclass(frozen=True)
class WarehouseFiles:
    """The files behind one ``--warehouse`` path."""

    published: Path

    @property
    def home(self) -> Path:
        return self.published.parent / f".{self.published.name}.newsflow"

    @property
    def working(self) -> Path:
        return self.home / "working.duckdb"

    @property
    def lock(self) -> Path:
        return self.home / "writer.lock"

    @property
    def holder(self) -> Path:
        return self.home / "writer.json"

    @property
    def staging(self) -> Path:
        return self.home / "staging"


def files_for(published: Path) -> WarehouseFiles:
    return WarehouseFiles(Path(os.path.abspath(published)))


@contextmanager
def writer_lock(files: WarehouseFiles, run_id: str, timeout: float) -> Iterator[None]:
    """Hold the single-writer lock; wait up to ``timeout`` seconds, then fail naming the holder.

    The lock is an OS file lock (``filelock``): it is released when the process ends, even by
    ``kill -9``, so a crashed run never leaves a stale lock behind.
    """
    files.home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(files.lock))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        holder = describe_holder(read_holder(files))
        raise StageFailed(
            "lock",
            f"another newsflow run holds the warehouse {files.published} ({holder}); "
            f"waited {timeout:g} s. Try again when it has finished, or wait longer with "
            "--lock-timeout.",
        ) from None
    try:
        files.holder.write_text(
            json.dumps(
                {
                    "run_id": run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        )
        yield
    finally:
        files.holder.unlink(missing_ok=True)
        lock.release()


def read_holder(files: WarehouseFiles) -> dict[str, Any] | None:
    """What the lock holder wrote about itself (run id, pid, host, since), if readable."""
    try:
        return json.loads(files.holder.read_text())
    except (OSError, ValueError):
        return None


def describe_holder(holder: dict[str, Any] | None) -> str:
    """``run ID, pid PID on HOST, since TIME``, or ``holder unknown``."""
    if not holder:
        return "holder unknown"
    return (
        f"run {holder.get('run_id')}, pid {holder.get('pid')} on {holder.get('host')}, "
        f"since {holder.get('since')}"
    )


def prepare_working(files: WarehouseFiles, full_refresh: bool) -> None:
    """Make sure the working copy exists: start from the published file, or from nothing.

    Call with the writer lock held. ``full_refresh`` starts an empty warehouse.
    """
    files.home.mkdir(parents=True, exist_ok=True)
    # Batches staged by a run that was killed: nobody else can be using them while we hold the lock.
    shutil.rmtree(files.staging, ignore_errors=True)
    if full_refresh:
        for path in (files.working, files.working.with_name(files.working.name + ".wal")):
            path.unlink(missing_ok=True)
        return
    if not files.working.exists() and files.published.exists():
        shutil.copyfile(files.published, files.working)


def publish(files: WarehouseFiles) -> None:
    """Copy the (checkpointed, closed) working file over the published one, atomically."""
    conn = connect(files.working)  # a writer like the others: it may replay a write-ahead log
    try:
        conn.execute("checkpoint")
    finally:
        conn.close()
    tmp = files.published.with_name(f".{files.published.name}.publishing")
    shutil.copyfile(files.working, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, files.published)
    directory = os.open(files.published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
