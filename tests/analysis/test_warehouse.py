"""Reading the warehouse for analysis: the notebook helper (flows.Warehouse), the output formats,
and `newsflow query` / `newsflow tables` through real subprocesses, on the seed corpus."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows.analysis.formats import render
from flows.analysis.warehouse import QueryError, Warehouse
from flows.cli.main import build_parser
from flows.ingest import run_ingest
from flows.settings import DEFAULT_SOURCE, load_settings
from tests.conftest import CORPUS

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
UTC = dt.UTC

MAIN_RELATIONS = [
    ("article", "table", "table", 21, 48),
    ("article_topic", "table", "table", 3, 120),
    ("image", "table", "table", 9, 148),
    ("provider", "table", "table", 4, 16),
    ("related", "table", "table", 15, 106),
    ("topic", "table", "table", 2, 12),
    ("article_enriched", "model", "table", 20, 48),
    ("image_coverage", "model", "table", 11, 11),
    ("provider_volume_by_month", "model", "table", 8, 121),
    ("quality_by_provider", "model", "table", 10, 11),
    ("related_citations", "model", "table", 9, 71),
    ("stg_article", "model", "view", 15, 48),
    ("stg_article_image", "model", "view", 8, 64),
    ("stg_article_topic", "model", "view", 9, 120),
    ("topic_pairs", "model", "table", 9, 32),
    ("topic_trends", "model", "table", 8, 108),
]
REUTERS = {
    "provider_id": "0cf2965759cc65dd",
    "provider_name": "Reuters",
    "domain": "reuters.com",
    "article_count": 7,
    "rated_article_count": 7,
    "mean_quality": 88.86,
    "median_quality": 89.0,
    "published_share": 1.0,
    "first_published_at": dt.datetime(2020, 12, 17, 11, 25, tzinfo=UTC),
    "last_published_at": dt.datetime(2022, 1, 21, 16, 30, tzinfo=UTC),
}


@pytest.fixture(scope="module")
def seed_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("analysis") / "seed.duckdb"
    run_ingest(load_settings(env={}, sources=(DEFAULT_SOURCE,), warehouse=path, workers=1))
    return path


def newsflow(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return subprocess.run(
        [NEWSFLOW, *args], cwd=cwd, env=env, input=stdin,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# -- the notebook helper -------------------------------------------------------------------


@pytest.mark.slow
def test_import_flows_stays_light_and_exports_the_helpers() -> None:
    code = (
        "import sys, flows\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'duckdb', 'pandas', 'prefect'})\n"
        "from flows import Warehouse, QueryError, open_warehouse, read_relation\n"
        "print(heavy, Warehouse.__module__, 'prefect' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout == "[] flows.analysis.warehouse False\n"


def test_relations_lists_tables_then_models_with_exact_counts(seed_warehouse: Path) -> None:
    with Warehouse(seed_warehouse) as wh:
        frame = wh.relations(include_etl=False)
        with_etl = wh.relations()
    assert list(frame.columns) == ["name", "role", "kind", "columns", "rows"]
    assert [tuple(row) for row in frame.itertuples(index=False)] == MAIN_RELATIONS
    etl = with_etl[with_etl["role"] == "etl"]
    assert etl["name"].tolist() == sorted(etl["name"]) and "etl.run" in set(etl["name"])
    assert etl.set_index("name").loc["etl.run", "rows"] == 1


def test_df_returns_a_model_as_a_dataframe(seed_warehouse: Path) -> None:
    with Warehouse(seed_warehouse) as wh:
        quality = wh.df("quality_by_provider")
        runs = wh.df("etl.run")
    assert len(quality) == 11
    first = quality.iloc[0].to_dict()
    assert {k: first[k] for k in REUTERS if "published_at" not in k} == {
        k: v for k, v in REUTERS.items() if "published_at" not in k
    }
    assert first["first_published_at"] == pd.Timestamp("2020-12-17 11:25", tz="UTC")
    assert quality["provider_name"].tolist()[-2:] == ["Al Jazeera English", "Dhaka Tribune"]
    assert runs["status"].tolist() == ["success"]


def test_sql_takes_parameters(seed_warehouse: Path) -> None:
    with Warehouse(seed_warehouse) as wh:
        frame = wh.sql(
            "select provider_name, article_count from quality_by_provider "
            "where article_count >= ? order by provider_name",
            [5],
        )
    assert frame.to_dict("records") == [
        {"provider_name": "Reuters", "article_count": 7},
        {"provider_name": "TechCrunch", "article_count": 5},
        {"provider_name": "The Guardian", "article_count": 5},
        {"provider_name": "The Verge", "article_count": 5},
        {"provider_name": "VentureBeat", "article_count": 5},
        {"provider_name": "Wired", "article_count": 5},
        {"provider_name": "ZDNet", "article_count": 5},
    ]


def test_wrong_names_and_writes_fail_with_a_hint(seed_warehouse: Path) -> None:
    with Warehouse(seed_warehouse) as wh:
        with pytest.raises(QueryError) as missing:
            wh.df("quality")
        with pytest.raises(QueryError) as typo:
            wh.sql("select * from quality_by_provder")
        with pytest.raises(QueryError) as write:
            wh.sql("delete from article")
    hint = (
        f"Tables and models in {seed_warehouse}: article, article_topic, image, provider, related, "
        "topic, article_enriched, image_coverage, provider_volume_by_month, quality_by_provider, "
        "related_citations, stg_article, stg_article_image, stg_article_topic, topic_pairs, "
        "topic_trends; bookkeeping in etl.* (`newsflow tables` lists them all with row counts)."
    )
    assert str(missing.value) == f"no table or model named 'quality'. {hint}"
    assert str(typo.value).startswith(
        "Catalog Error: Table with name quality_by_provder does not exist!\n"
        'Did you mean "quality_by_provider"?'
    )
    assert str(typo.value).endswith(hint)
    assert "read-only mode" in str(write.value)
    assert str(write.value).endswith(
        "The warehouse is opened read-only: queries never change it. "
        "Data changes come from `newsflow run`."
    )


UTC_READS = """
import json, sys
from flows import Warehouse, open_warehouse, read_relation
from flows.db import connect

path, sql = sys.argv[1], sys.argv[2]
out = {"read_relation": [t.isoformat() for t in read_relation("etl.run", path)["started_at"]]}
with Warehouse(path) as wh:
    out["Warehouse.df"] = [t.isoformat() for t in wh.df("etl.run")["started_at"]]
    out["Warehouse.sql"] = [t.isoformat() for t in wh.sql(sql)["started_at"]]
    out["Warehouse.query"] = [row[0].isoformat() for row in wh.query(sql).rows]
conn = open_warehouse(path)
out["open_warehouse"] = [row[0].isoformat() for row in conn.execute(sql).fetchall()]
conn.close()
writer = connect(sys.argv[3])
out["writer"] = [writer.execute("select timestamptz '2021-06-01 02:30:00+00'").fetchone()[0].isoformat()]
writer.close()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_every_read_path_shows_utc_whatever_the_process_time_zone(
    seed_warehouse: Path, tmp_path: Path
) -> None:
    sql = "select started_at from etl.run order by started_at"
    with Warehouse(seed_warehouse) as wh:
        [(started,)] = wh.query(sql).rows
    expected = started.astimezone(dt.UTC).isoformat()
    assert expected.endswith("+00:00")
    env = {**os.environ, "TZ": "America/New_York"}
    env = {k: v for k, v in env.items() if not k.startswith("NEWSFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-c", UTC_READS, str(seed_warehouse), sql, str(tmp_path / "w.duckdb")],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(proc.stdout) == {
        "read_relation": [expected], "Warehouse.df": [expected], "Warehouse.sql": [expected],
        "Warehouse.query": [expected], "open_warehouse": [expected],
        "writer": ["2021-06-01T02:30:00+00:00"],
    }  # fmt: skip
    cli = subprocess.run(
        [NEWSFLOW, "query", "--warehouse", str(seed_warehouse), "--format", "json", sql],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(cli.stdout) == [{"started_at": expected}]


def test_an_open_warehouse_keeps_its_run_while_a_new_one_publishes(
    seed_warehouse: Path, tmp_path: Path
) -> None:
    published = tmp_path / "copy.duckdb"
    shutil.copy(seed_warehouse, published)
    count = "select count(*) as n from article"
    with Warehouse(published) as before:
        run_ingest(
            load_settings(
                env={}, sources=(CORPUS / "seed.txt",), warehouse=published, workers=1,
                full_refresh=True,
            )
        )  # fmt: skip
        old = before.sql(count)["n"].tolist()
        # DuckDB shares one database per file and process: same run until the first closes.
        with Warehouse(published) as second:
            shared = second.sql(count)["n"].tolist()
    with Warehouse(published) as after:
        new = after.sql(count)["n"].tolist()
    assert (old, shared, new) == ([48], [48], [1])


# -- output formats ------------------------------------------------------------------------

COLUMNS = ["name", "n", "share", "seen_at", "tags", "ok", "note"]
ROWS = [
    ("Reuters", 7, 0.5, dt.datetime(2021, 3, 1, 10, 0, tzinfo=UTC), ["AI", "Robotics"], True, None),
    ("A|B", 12, None, None, [], False, "two\nlines"),
]


def test_render_table() -> None:
    assert render(COLUMNS, ROWS, "table") == (
        "name      n  share  seen_at                    tags                ok     note\n"
        "-------  --  -----  -------------------------  ------------------  -----  ----------\n"
        'Reuters   7    0.5  2021-03-01 10:00:00+00:00  ["AI", "Robotics"]  true   NULL\n'
        "A|B      12   NULL  NULL                       []                  false  two\\nlines\n"
    )


def test_render_csv_json_markdown() -> None:
    assert render(COLUMNS, ROWS, "csv") == (
        "name,n,share,seen_at,tags,ok,note\n"
        'Reuters,7,0.5,2021-03-01 10:00:00+00:00,"[""AI"", ""Robotics""]",true,\n'
        'A|B,12,,,[],false,"two\nlines"\n'
    )
    assert json.loads(render(COLUMNS, ROWS, "json")) == [
        {"name": "Reuters", "n": 7, "share": 0.5, "seen_at": "2021-03-01T10:00:00+00:00",
         "tags": ["AI", "Robotics"], "ok": True, "note": None},
        {"name": "A|B", "n": 12, "share": None, "seen_at": None, "tags": [], "ok": False,
         "note": "two\nlines"},
    ]  # fmt: skip
    assert render(COLUMNS, ROWS, "markdown") == (
        "| name | n | share | seen_at | tags | ok | note |\n"
        "|---|---:|---:|---|---|---|---|\n"
        '| Reuters | 7 | 0.5 | 2021-03-01 10:00:00+00:00 | ["AI", "Robotics"] | true | NULL |\n'
        "| A\\|B | 12 | NULL | NULL | [] | false | two<br>lines |\n"
    )


# -- newsflow query / tables ---------------------------------------------------------------


@pytest.mark.slow
def test_query_prints_an_aligned_table(seed_warehouse: Path, tmp_path: Path) -> None:
    proc = newsflow(
        "query", "--warehouse", str(seed_warehouse),
        "select provider_name, article_count, mean_quality from quality_by_provider limit 3",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "provider_name  article_count  mean_quality\n"
        "-------------  -------------  ------------\n"
        "Reuters                    7         88.86\n"
        "The Verge                  5          77.2\n"
        "TechCrunch                 5          72.6\n"
    )
    assert proc.stderr.startswith("3 row(s) in ")


@pytest.mark.slow
def test_query_csv_parses_with_pandas(seed_warehouse: Path, tmp_path: Path) -> None:
    proc = newsflow(
        "query", "--warehouse", str(seed_warehouse), "--format", "csv",
        "select * from quality_by_provider", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(io.StringIO(proc.stdout))
    with Warehouse(seed_warehouse) as wh:
        expected = wh.df("quality_by_provider")
    assert list(frame.columns) == list(expected.columns)
    assert frame["provider_name"].tolist() == expected["provider_name"].tolist()
    assert frame["mean_quality"].tolist() == expected["mean_quality"].tolist()
    assert frame["article_count"].tolist() == expected["article_count"].tolist()
    first = frame.iloc[0]
    assert pd.Timestamp(first["first_published_at"]) == pd.Timestamp("2020-12-17 11:25", tz="UTC")


@pytest.mark.slow
def test_query_json_markdown_file_and_limit(seed_warehouse: Path, tmp_path: Path) -> None:
    sql = "select provider_name, domain from quality_by_provider order by provider_name"
    (tmp_path / "q.sql").write_text(sql + "\n", encoding="utf-8")
    proc = newsflow(
        "query", "--warehouse", str(seed_warehouse), "--file", "q.sql", "--format", "json",
        "--limit", "2", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {"provider_name": "Al Jazeera English", "domain": "aljazeera.com"},
        {"provider_name": "Ars Technica", "domain": "arstechnica.com"},
    ]
    assert proc.stderr.splitlines()[0] == (
        "showing the first 2 rows; more exist (--limit N, or --limit 0 for all)"
    )
    proc = newsflow(
        "query", "--warehouse", str(seed_warehouse), "--file", "-", "--format", "markdown",
        "--quiet", cwd=tmp_path, stdin="select topic_name, count(*) as articles "
        "from stg_article_topic group by all order by articles desc, topic_name limit 2",
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
    assert (
        proc.stdout
        == "| topic_name | articles |\n|---|---:|\n| AI | 24 |\n| Computer Vision | 15 |\n"
    )


@pytest.mark.slow
def test_query_errors_exit_1_with_the_tables_that_exist(
    seed_warehouse: Path, tmp_path: Path
) -> None:
    proc = newsflow(
        "query", "--warehouse", str(seed_warehouse), "select * from quality_by_provder",
        cwd=tmp_path,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith(
        "newsflow: query failed: Catalog Error: Table with name quality_by_provder does not "
        'exist!\nDid you mean "quality_by_provider"?'
    )
    assert "Tables and models in " in proc.stderr and "quality_by_provider, " in proc.stderr
    missing = newsflow("query", "--warehouse", "nope.duckdb", "select 1", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        1,
        "newsflow: warehouse not found: nope.duckdb (load it first with newsflow run)\n",
    )
    assert not (tmp_path / "nope.duckdb").exists()


@pytest.mark.slow
def test_query_usage_errors_exit_2(seed_warehouse: Path, tmp_path: Path) -> None:
    empty = newsflow("query", "--warehouse", str(seed_warehouse), cwd=tmp_path)
    assert (empty.returncode, empty.stderr) == (
        2,
        'newsflow: error: no SQL given: newsflow query "select ..." or newsflow query --file q.sql\n',
    )
    both = newsflow("query", "select 1", "--file", "q.sql", cwd=tmp_path)
    assert (both.returncode, both.stderr) == (
        2,
        "newsflow: error: give the SQL as an argument or with --file, not both\n",
    )
    xml = newsflow("query", "select 1", "--format", "xml", cwd=tmp_path)
    assert xml.returncode == 2 and "invalid choice: 'xml'" in xml.stderr


@pytest.mark.slow
def test_tables_lists_row_counts(seed_warehouse: Path, tmp_path: Path) -> None:
    proc = newsflow("tables", "--warehouse", str(seed_warehouse), "--no-etl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["name", "role", "kind", "columns", "rows"]
    assert [tuple(line.split()) for line in lines[2:]] == [
        tuple(str(v) for v in row) for row in MAIN_RELATIONS
    ]
    assert proc.stderr == "6 table(s), 10 model(s)\n"


@pytest.mark.slow
def test_run_quiet_prints_nothing(tmp_path: Path) -> None:
    proc = newsflow(
        "run", "--no-prefect", "--quiet", "--source", str(CORPUS / "seed.txt"),
        "--warehouse", "x.duckdb", "--workers", "1", cwd=tmp_path,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    with Warehouse(tmp_path / "x.duckdb") as wh:
        assert wh.sql("select count(*) as n from article")["n"].tolist() == [1]


@pytest.mark.parametrize("command", ["query", "tables", "report", "export"])
def test_every_analysis_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "example" in out and f"newsflow {command}" in out
    assert "--warehouse PATH" in out and "--quiet" in out and "--verbose" in out


# -- the query sandbox (docs/sandbox.md) ------------------------------------------------------

SANDBOX_HINT = (
    " (the warehouse is sandboxed: queries cannot read or write files, attach databases, "
    "load extensions or change settings; see docs/sandbox.md)"
)
REFUSED = {
    "copy (select 1) to 'x.csv'": 'Permission Error: Cannot access file "x.csv" - file system '
    "operations are disabled by configuration",
    "export database 'dir'": 'Permission Error: Cannot access file "dir/etl_drift.csv" - file '
    "system operations are disabled by configuration",
    "select * from read_csv('/etc/passwd')": 'Permission Error: Cannot access file "/etc/passwd" '
    "- file system operations are disabled by configuration",
    "select * from read_text('/etc/hostname')": "Permission Error: Cannot access file "
    '"/etc/hostname" - file system operations are disabled by configuration',
    "attach 'other.duckdb'": 'Permission Error: Cannot access file "{cwd}/other.duckdb" - file '
    "system operations are disabled by configuration",
    "set enable_external_access = true": "Invalid Input Error: Cannot change configuration option "
    '"enable_external_access" - the configuration has been locked',
    "install httpfs": 'Permission Error: Cannot access directory "{extensions}" - file system '
    "operations are disabled by configuration",
    "load httpfs": "Permission Error: Loading external extensions is disabled through "
    "configuration",
}


def _extensions_dir() -> str:
    import duckdb

    conn = duckdb.connect()
    [(version, platform)] = conn.execute(
        "select library_version, platform from pragma_platform(), pragma_version()"
    ).fetchall()
    return str(Path.home() / ".duckdb" / "extensions" / version / platform)


@pytest.mark.slow
@pytest.mark.parametrize("sql", list(REFUSED))
def test_query_cannot_reach_files_databases_settings_or_extensions(
    sql: str, seed_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w" / "news.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(seed_warehouse, warehouse)
    before = warehouse.read_bytes()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = newsflow("query", "--warehouse", str(warehouse), sql, cwd=cwd)
    expected = REFUSED[sql].format(cwd=cwd, extensions=_extensions_dir())
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", f"newsflow: query failed: {expected}{SANDBOX_HINT}\n",
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cwd", "news.duckdb", "w"]
    assert warehouse.read_bytes() == before


def test_the_warehouse_api_is_sandboxed_and_other_readers_still_work(
    seed_warehouse: Path, tmp_path: Path
) -> None:
    from flows import open_warehouse
    from flows.db import open_connection

    with Warehouse(seed_warehouse) as wh:
        with pytest.raises(QueryError) as refused:
            wh.sql(f"copy (select 1) to '{tmp_path / 'x.csv'}'")
        # A second reader of the same file in this process shares the sandboxed database.
        other = open_connection(seed_warehouse, read_only=True)
        shared = other.execute("select count(*), current_setting('TimeZone') from article")
        assert shared.fetchall() == [(48, "UTC")]
        other.close()
        conn = open_warehouse(seed_warehouse)
        with pytest.raises(Exception, match="configuration has been locked"):
            conn.execute("set enable_external_access = true")
        conn.close()
    assert str(refused.value).startswith('Permission Error: Cannot access file "')
    assert list(tmp_path.iterdir()) == []
