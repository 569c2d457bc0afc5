"""`newsflow export --format parquet`: every table and model round-trips through Parquet, article
is partitioned by year/month, and the manifest's counts, checksums and sha256s hold."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.analysis.export import export_parquet, read_back_sql
from flows.analysis.warehouse import Warehouse
from flows.ingest import run_ingest
from flows.records import StageFailed
from flows.settings import DEFAULT_SOURCE, load_settings
from tests.conftest import CORPUS

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
RELATIONS = [
    "article", "article_topic", "image", "provider", "related", "topic", "article_enriched",
    "image_coverage", "provider_volume_by_month", "quality_by_provider", "related_citations",
    "stg_article", "stg_article_image", "stg_article_topic", "topic_pairs", "topic_trends",
]  # fmt: skip
UNDATED_URL = "https://example.org/undated-article"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds plus one article without a date (it lands in the NULL partition)."""
    root = tmp_path_factory.mktemp("export")
    extra = root / "extra"
    extra.mkdir()
    seed = (CORPUS / "seed.txt").read_text(encoding="utf-8")
    lines = [line for line in seed.splitlines() if not line.startswith("publishedDateTime:")]
    text = "\n".join(lines) + "\n"
    text = text.replace("webUrl: ", f"webUrl: {UNDATED_URL}\nunusedWebUrl: ", 1)
    (extra / "undated.txt").write_text(text, encoding="utf-8")
    path = root / "wh.duckdb"
    run_ingest(load_settings(env={}, sources=(DEFAULT_SOURCE, extra), warehouse=path, workers=1))
    return path


@pytest.fixture(scope="module")
def exported(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("out") / "parquet"
    with Warehouse(warehouse) as wh:
        manifest = export_parquet(wh, out)
    return out, manifest


def reader() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'")
    return conn


def test_manifest_lists_every_table_and_model(warehouse: Path, exported: tuple) -> None:
    out, manifest = exported
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert [e["relation"] for e in manifest["relations"]] == RELATIONS
    assert manifest["format"] == "parquet"
    assert manifest["warehouse"] == str(warehouse)
    with Warehouse(warehouse) as wh:
        assert manifest["run"]["run_id"] == wh.last_run()["run_id"]
        counts = {r.name: r.rows for r in wh.list_relations(include_etl=False)}
    assert {e["relation"]: e["rows"] for e in manifest["relations"]} == counts
    assert counts["article"] == 49
    provider = next(e for e in manifest["relations"] if e["relation"] == "provider")
    assert {k: provider[k] for k in ("role", "kind", "path", "partition_by", "rows")} == {
        "role": "table", "kind": "table", "path": "provider.parquet", "partition_by": [],
        "rows": 16,
    }  # fmt: skip
    assert provider["columns"] == [
        {"name": "provider_id", "type": "VARCHAR"},
        {"name": "domain", "type": "VARCHAR"},
        {"name": "name", "type": "VARCHAR"},
        {"name": "name_observed_at", "type": "TIMESTAMP WITH TIME ZONE"},
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "article", *(f"{name}.parquet" for name in RELATIONS[1:])]
    )


def test_article_is_partitioned_by_year_and_month(warehouse: Path, exported: tuple) -> None:
    out, manifest = exported
    article = manifest["relations"][0]
    assert (article["path"], article["partition_by"]) == ("article/", ["year", "month"])
    with Warehouse(warehouse) as wh:
        expected = wh.conn.execute(
            "select distinct year(published_at), month(published_at) from article"
        ).fetchall()
    folders = {
        (f"{y}" if y is not None else "__HIVE_DEFAULT_PARTITION__",
         f"{m}" if m is not None else "__HIVE_DEFAULT_PARTITION__")
        for y, m in expected
    }  # fmt: skip
    assert len(folders) == 15  # 14 months with articles, and the undated one
    assert sorted(f["path"] for f in article["files"]) == sorted(
        f"article/year={y}/month={m}/data_0.parquet" for y, m in folders
    )
    by_month = (
        reader()
        .execute(
            f"select year, month, count(*) from read_parquet('{out}/article/**/*.parquet', "
            "hive_partitioning = true) group by all order by all"
        )
        .fetchall()
    )
    assert by_month[0] == (2020, 12, 7)
    assert by_month[-1] == (None, None, 1)
    assert sum(n for *_, n in by_month) == 49


def test_every_relation_reads_back_with_the_same_rows(warehouse: Path, exported: tuple) -> None:
    out, manifest = exported
    conn = reader()
    with Warehouse(warehouse) as wh:
        for entry in manifest["relations"]:
            count, checksum = wh.checksum(f"select * from {entry['relation']}")
            [(back_count, back_sum)] = conn.execute(
                "select count(*), sum(md5_number_lower(cast(checked_row as varchar))::hugeint) "
                f"from ({read_back_sql(out, entry)}) as checked_row"
            ).fetchall()
            assert (entry["rows"], entry["checksum"]) == (count, checksum), entry["relation"]
            assert (back_count, str(back_sum or 0)) == (count, checksum), entry["relation"]
            for file in entry["files"]:
                digest = hashlib.sha256((out / file["path"]).read_bytes()).hexdigest()
                assert (file["sha256"], file["bytes"]) == (
                    digest, (out / file["path"]).stat().st_size
                )  # fmt: skip


def test_a_whole_row_round_trips(warehouse: Path, exported: tuple) -> None:
    out, manifest = exported
    article = manifest["relations"][0]
    sql = f"select * from ({read_back_sql(out, article)}) where article_id = '26adda6e9f939c78'"
    with Warehouse(warehouse) as wh:
        [original] = wh.conn.execute(
            "select * from article where article_id = '26adda6e9f939c78'"
        ).fetchall()
    [back] = reader().execute(sql).fetchall()
    assert back == original
    enriched = next(e for e in manifest["relations"] if e["relation"] == "article_enriched")
    [(topics,)] = (
        reader()
        .execute(
            f"select topics from ({read_back_sql(out, enriched)}) "
            "where article_id = '26adda6e9f939c78'"
        )
        .fetchall()
    )
    assert topics == ["Natural Language Processing", "AI", "Computer Vision"]


def test_export_replaces_an_earlier_export_only(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    with Warehouse(warehouse) as wh:
        export_parquet(wh, out)
        (out / "stale.parquet").write_bytes(b"old")
        export_parquet(wh, out, include_etl=True)
        assert not (out / "stale.parquet").exists()
        assert (out / "etl" / "run.parquet").is_file()
        foreign = tmp_path / "mine"
        foreign.mkdir()
        (foreign / "notes.txt").write_text("keep me")
        with pytest.raises(StageFailed, match=r"is not empty and holds no manifest\.json"):
            export_parquet(wh, foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "parquet"]  # no leftovers


@pytest.mark.slow
def test_cli_export_prints_a_summary(warehouse: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    proc = subprocess.run(
        [NEWSFLOW, "export", "--format", "parquet", "--out", "out", "--warehouse", str(warehouse)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["relation", "role", "rows", "files", "bytes"]
    assert lines[2].split()[:4] == ["article", "table", "49", "15"]
    assert lines[-1].startswith("wrote 16 relations (") and "out/manifest.json in " in lines[-1]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["relations"]) == 16
