"""``newsflow export``: every table and model as Parquet, plus ``manifest.json``.

Layout of the output folder (readable by Spark, Trino, Polars, pandas or DuckDB)::

    manifest.json
    provider.parquet, quality_by_provider.parquet, ...   one file per table or model
    article/year=2021/month=3/data_0.parquet             article, Hive-partitioned by the UTC
                                                         year and month of published_at
                                                         (__HIVE_DEFAULT_PARTITION__: no date)
    etl/run.parquet, ...                                 with include_etl

The partition columns live in the folder names only: read ``article/**/*.parquet`` with Hive
partitioning to get ``year`` and ``month`` back. The manifest lists, per relation, its files (bytes,
sha256), columns and types, row count and an order-independent content checksum
(``CHECKSUM_METHOD``), so a reader can check what it got.

Everything is read through one read-only connection, so all files come from the same run. That
connection is sandboxed (docs/sandbox.md) and cannot write files: the rows go as Arrow to a
separate in-memory DuckDB that may write under the partial folder only
(:func:`flows.db.open_file_writer`), each column cast back to its warehouse type (JSON stays
JSON). The folder is written beside ``out`` and swapped in when complete; an existing ``out`` is
replaced only if it is an earlier export (it has a ``manifest.json``) or empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from flows import __version__
from flows.analysis.warehouse import CHECKSUM_METHOD, RelationInfo, Warehouse, quote
from flows.db import open_file_writer
from flows.records import StageFailed

MANIFEST = "manifest.json"
PARTITIONED = {"article": ("published_at", ("year", "month"))}


def export_parquet(
    wh: Warehouse,
    out: Path,
    include_etl: bool = False,
    on_relation: Callable[[RelationInfo], None] | None = None,
) -> dict[str, Any]:
    """Write every relation of ``wh`` under ``out``; return the manifest (also written)."""
    out = Path(os.path.abspath(out))
    _check_target(out)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        relations = wh.list_relations(include_etl=include_etl, count_rows=False)
        entries = []
        writer = open_file_writer(partial)
        try:
            for relation in relations:
                if on_relation is not None:
                    on_relation(relation)
                entries.append(_export_one(wh, writer, relation, partial))
        finally:
            writer.close()
        manifest = {
            "format": "parquet",
            "warehouse": os.path.abspath(wh.path),
            "run": _jsonable(wh.last_run()),
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "newsflow_version": __version__,
            "duckdb_version": duckdb.__version__,
            "checksum_method": CHECKSUM_METHOD,
            "relations": entries,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _swap_in(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise StageFailed("export", f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise StageFailed(
            "export",
            f"{out} is not empty and holds no {MANIFEST} from an earlier export; "
            "choose another --out (newsflow only replaces its own exports)",
        )


def _export_one(
    wh: Warehouse, writer: duckdb.DuckDBPyConnection, relation: RelationInfo, root: Path
) -> dict[str, Any]:
    described = wh.conn.execute(f"describe select * from {relation.quoted}").fetchall()
    columns = [{"name": row[0], "type": row[1]} for row in described]
    select = f"select * from {relation.quoted}"
    typed = ", ".join(f"{quote(c['name'])}::{c['type']} as {quote(c['name'])}" for c in columns)
    stem = relation.name.replace(".", "/")
    partition = PARTITIONED.get(relation.name) if relation.role == "table" else None
    if partition:
        column, parts = partition
        target = root / stem
        derived = ", ".join(
            f"{part}({quote(column)}) as {quote(part)}" for part in parts
        )  # year(published_at) as "year": the session is in UTC
        names = ", ".join(quote(p) for p in parts)
        _copy(
            wh, writer, f"select *, {derived} from {relation.quoted}", f"{typed}, {names}",
            f"{_literal(target)} (format parquet, partition_by ({names}))",
        )  # fmt: skip
        written = sorted(target.rglob("*.parquet"))
        path = f"{stem}/"
    else:
        target = root / f"{stem}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(wh, writer, select, typed, f"{_literal(target)} (format parquet)")
        written = [target]
        path = f"{stem}.parquet"
    rows, checksum = wh.checksum(select)
    return {
        "relation": relation.name,
        "role": relation.role,
        "kind": relation.kind,
        "path": path,
        "partition_by": list(partition[1]) if partition else [],
        "files": [
            {
                "path": f.relative_to(root).as_posix(),
                "bytes": f.stat().st_size,
                "sha256": _sha256(f),
            }
            for f in written
        ],
        "rows": rows,
        "checksum": checksum,
        "columns": columns,
    }


def _copy(
    wh: Warehouse, writer: duckdb.DuckDBPyConnection, select: str, columns: str, target: str
) -> None:
    """``copy (select) to target``: read by the sandboxed ``wh``, written by ``writer``."""
    rows = wh.conn.sql(select).to_arrow_reader()
    writer.register("exported_rows", rows)
    try:
        writer.execute(f"copy (select {columns} from exported_rows) to {target}")
    finally:
        writer.unregister("exported_rows")


def read_back_sql(root: Path, entry: dict[str, Any]) -> str:
    """A query over the exported files of one manifest entry, with the original columns only."""
    files = ", ".join(_literal(root / f["path"]) for f in entry["files"])
    columns = ", ".join(quote(c["name"]) for c in entry["columns"])
    return f"select {columns} from read_parquet([{files}], hive_partitioning = false)"


def _swap_in(partial: Path, out: Path) -> None:
    if not out.exists():
        os.replace(partial, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in run.items()}
