"""Data tests: each generic rule and singular tests on hand-made rows, declaration errors that
name the file, the shipped rules against broken warehouse rows, severities in a run, and
``newsflow check`` through a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.cli import main as cli
from flows.ingest import RunSummary, check_data, run_ingest
from flows.load.merge import TABLES
from flows.load.publish import files_for
from flows.models.build import run_models
from flows.models.datatests import (
    collect_tests,
    load_declarations,
    render_markdown,
    render_text,
    run_data_tests,
)
from flows.normalize.document import make_id
from flows.records import StageFailed
from flows.settings import SQL_DIR, Settings, load_settings
from tests.conftest import CORPUS, query

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
QUANTUM = make_id("article", "https://example.com/quantum-chip")
BOM = make_id("article", "https://example.com/bom-crlf")

THINGS_YML = """
tables:
  parent:
    grain: one row per parent (parent_id)
    columns:
      parent_id: {description: the key}
  thing:
    grain: one row per thing (thing_id)
    tests:
      - unique: {columns: [parent_id, kind]}
    columns:
      thing_id:
        tests: [unique, not_null]
      parent_id:
        tests:
          - relationships: {to: parent.parent_id}
      kind:
        tests:
          - accepted_values: {values: [a, b], severity: warn}
      score:
        tests:
          - accepted_range: {min: 0, max: 10}
      source_path: {}
"""


def make_sql_dir(tmp_path: Path, yml: str, tests: dict[str, str] | None = None) -> Path:
    sql = tmp_path / "sql"
    (sql / "models").mkdir(parents=True)
    (sql / "tests").mkdir()
    (sql / "decl.yml").write_text(yml)
    for name, text in (tests or {}).items():
        (sql / "tests" / f"{name}.sql").write_text(text)
    return sql


@pytest.fixture
def things(memdb: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    memdb.execute("create table parent (parent_id integer)")
    memdb.execute("insert into parent values (10)")
    memdb.execute(
        "create table thing (thing_id integer, parent_id integer, kind varchar, score integer, "
        "source_path varchar)"
    )
    memdb.execute(
        "insert into thing values (1, 10, 'a', 5, 'f1.md'), (2, 10, 'b', 50, 'f2.md'), "
        "(2, 99, 'z', -1, 'f3.md'), (null, null, null, null, 'f4.md')"
    )
    return memdb


@pytest.mark.parametrize("threads", [1, 3])
def test_each_generic_rule_returns_the_offending_rows(
    things: duckdb.DuckDBPyConnection, tmp_path: Path, threads: int
) -> None:
    """The same results in the same order whether the tests run one by one or side by side."""
    singular = {
        "odd_things": "-- odd_things: thing ids are even\nselect thing_id from thing "
        "where thing_id % 2 = 1",
        "many_rows": "-- many_rows: nothing\n-- severity: warn\nselect range as n from range(25)",
        "broken": "-- broken: cannot run\nselect no_such_column from thing",
    }
    sql = make_sql_dir(tmp_path, THINGS_YML, singular)
    result = run_data_tests(things, sql, threads=threads)
    got = {r.name: (r.outcome, r.failures, r.rows) for r in result.results}
    assert list(got) == [
        "unique_thing_parent_id_kind", "unique_thing_thing_id", "not_null_thing_thing_id",
        "relationships_thing_parent_id", "accepted_values_thing_kind",
        "accepted_range_thing_score", "broken", "many_rows", "odd_things",
    ]  # fmt: skip
    assert got["unique_thing_parent_id_kind"] == ("pass", 0, [])
    assert got["unique_thing_thing_id"] == ("fail", 2, [
        {"thing_id": 2, "source_path": "f2.md"}, {"thing_id": 2, "source_path": "f3.md"},
    ])  # fmt: skip
    assert got["not_null_thing_thing_id"] == (
        "fail",
        1,
        [{"thing_id": None, "source_path": "f4.md"}],
    )
    assert got["relationships_thing_parent_id"] == (
        "fail", 1, [{"thing_id": 2, "parent_id": 99, "source_path": "f3.md"}],
    )  # fmt: skip
    assert got["accepted_values_thing_kind"] == (
        "warn", 1, [{"thing_id": 2, "kind": "z", "source_path": "f3.md"}],
    )  # fmt: skip
    assert got["accepted_range_thing_score"] == ("fail", 2, [
        {"thing_id": 2, "score": -1, "source_path": "f3.md"},
        {"thing_id": 2, "score": 50, "source_path": "f2.md"},
    ])  # fmt: skip
    assert got["odd_things"] == ("fail", 1, [{"thing_id": 1}])
    outcome, failures, rows = got["many_rows"]
    assert (outcome, failures, rows) == ("warn", 25, [{"n": n} for n in range(10)])
    broken = result.results[6]
    assert broken.outcome == "error" and "no_such_column" in (broken.error or "")
    assert str(sql / "tests" / "broken.sql") in (broken.error or "")
    assert result.headline() == "1 passed, 2 warned, 5 failed, 1 errored"
    assert not result.ok


def test_rules_read_as_sentences(things: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    tests = collect_tests(things, make_sql_dir(tmp_path, THINGS_YML))
    assert [(t.rule, t.severity) for t in tests] == [
        ("(parent_id, kind) in thing is unique", "error"),
        ("thing.thing_id is unique", "error"),
        ("thing.thing_id is not null", "error"),
        ("every thing.parent_id is in parent.parent_id", "error"),
        ("thing.kind is one of 'a', 'b'", "warn"),
        ("thing.score is between 0 and 10", "error"),
    ]


def test_where_limits_a_rule_to_some_rows(
    things: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    yml = (
        "tables:\n  thing:\n    columns:\n      thing_id:\n        tests:\n"
        "          - unique: {where: \"kind != 'z'\"}\n"
    )
    [result] = run_data_tests(things, make_sql_dir(tmp_path, yml)).results
    # thing_id 2 is on kinds b and z: unique once z is left out
    assert (result.rule, result.outcome) == ("thing.thing_id is unique, where kind != 'z'", "pass")


def test_results_render_for_terminal_and_markdown(
    things: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    yml = "tables:\n  thing:\n    columns:\n      kind:\n        tests:\n" \
          "          - accepted_values: {values: [a, b]}\n"  # fmt: skip
    results = [r.to_dict() for r in run_data_tests(things, make_sql_dir(tmp_path, yml)).results]
    assert render_text(results) == [
        "FAIL accepted_values_thing_kind [error]: thing.kind is one of 'a', 'b'; 1 row(s) break it",
        "    kind=z  source_path=f3.md",
    ]
    assert render_markdown(results) == (
        "# Data tests: 0 passed, 0 warned, 1 failed, 0 errored\n\n"
        "| outcome | test | severity | rule | rows |\n|---|---|---|---|---:|\n"
        "| fail | `accepted_values_thing_kind` | error | thing.kind is one of 'a', 'b' | 1 |\n\n"
        "## `accepted_values_thing_kind`: 1 row(s)\n\n"
        "| kind | source_path |\n|---|---|\n| z | f3.md |\n"
    )


@pytest.mark.parametrize(
    ("yml", "problem"),
    [
        ("tables:\n  thing:\n    columns:\n      kind:\n        tests: [uniq]\n",
         "tables.thing.columns.kind: unknown test 'uniq' (known: not_null, unique, "
         "relationships, accepted_values, accepted_range)"),
        ("tables:\n  thing:\n    colums: {}\n",
         "tables.thing: unknown key(s) colums (allowed: columns, description, grain, tests)"),
        ("models:\n  ghost:\n    columns: {}\n",
         "models.ghost: no model file ghost.sql under"),
        ("tables:\n  thing:\n    columns:\n      kind:\n        tests:\n"
         "          - not_null: {severity: fatal}\n",
         "tables.thing.columns.kind.not_null: severity must be error or warn, not 'fatal'"),
        ("tables:\n  thing:\n    columns:\n      parent_id:\n        tests:\n"
         "          - relationships: {to: parent}\n",
         "tables.thing.columns.parent_id.relationships: to: expected relation.column, "
         "got 'parent'"),
        ("tables:\n  thing:\n    tests: [unique]\n",
         "tables.thing.unique: needs columns: a list of column names"),
        ("tables:\n  thing:\n    columns:\n      score:\n        tests: [accepted_range]\n",
         "tables.thing.columns.score.accepted_range: give min, max or both"),
        ("tables: [thing]\n", "tables: expected a mapping of name -> declaration"),
    ],
)  # fmt: skip
def test_declaration_errors_name_the_file_and_place(
    things: duckdb.DuckDBPyConnection, tmp_path: Path, yml: str, problem: str
) -> None:
    sql = make_sql_dir(tmp_path, yml)
    with pytest.raises(StageFailed) as failed:
        collect_tests(things, sql)
    assert str(failed.value).startswith(f"declarations failed: {sql / 'decl.yml'}: {problem}")


def test_a_model_is_described_in_its_sql_header_not_in_yaml(tmp_path: Path) -> None:
    sql = make_sql_dir(tmp_path, "models:\n  m:\n    description: here\n")
    (sql / "models" / "m.sql").write_text("-- m: one row per x (x)\n-- What m is.\nselect 1 as x")
    with pytest.raises(StageFailed, match="describe a model in its SQL header"):
        load_declarations(sql)
    (sql / "decl.yml").write_text("models:\n  m:\n    columns:\n      x: {description: one}\n")
    [relation] = load_declarations(sql).values()
    assert (relation.kind, relation.grain, relation.description, relation.key) == (
        "model", "one row per x (x)", "What m is.", ("x",),
    )  # fmt: skip
    assert relation.columns == {"x": "one"}


# -- the shipped declarations -----------------------------------------------------------------


def test_every_warehouse_table_has_its_keys_and_orphans_tested(
    memdb: duckdb.DuckDBPyConnection,
) -> None:
    tests = {t.name: t for t in collect_tests(memdb, SQL_DIR)}
    for table, key in [("provider", "provider_id"), ("article", "article_id"),
                       ("related", "related_id"), ("image", "image_id"), ("topic", "topic_id")]:  # fmt: skip
        assert tests[f"unique_{table}_{key}"].severity == "error"
        assert tests[f"not_null_{table}_{key}"].severity == "error"
    assert tests["unique_article_topic_article_id_topic_id"].severity == "error"
    orphans = [name for name, t in tests.items() if t.check == "relationships"
               and t.relation in TABLES and t.severity == "error"]  # fmt: skip
    assert sorted(orphans) == [
        "relationships_article_provider_id", "relationships_article_topic_article_id",
        "relationships_article_topic_topic_id", "relationships_image_article_id",
        "relationships_image_related_id", "relationships_related_article_id",
        "relationships_related_provider_id",
    ]  # fmt: skip
    # related entries point outside the warehouse by design: not an orphan rule
    assert "relationships_related_related_article_id" not in tests
    assert tests["accepted_range_article_quality"].rule == "article.quality is between 0 and 100"
    assert tests["accepted_range_article_quality"].severity == "warn"


def test_shipped_rules_pass_on_the_corpus(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, summary = fixture_run
    assert {t["outcome"] for t in summary.data_tests} == {"pass"}
    assert len(summary.data_tests) == len(check_data(settings, read_only=True).results) > 90


@pytest.fixture
def broken_warehouse(fixture_run: tuple[Settings, RunSummary], tmp_path: Path) -> Path:
    """A copy of the fixture warehouse with an orphan provider, an orphan image and a bad score."""
    settings, _ = fixture_run
    warehouse = tmp_path / "broken.duckdb"
    shutil.copy(settings.warehouse, warehouse)
    conn = duckdb.connect(str(warehouse))
    conn.execute("update article set provider_id = 'nope' where article_id = ?", [QUANTUM])
    conn.execute("update article set quality = -5 where article_id = ?", [BOM])
    conn.execute("insert into image (image_id, article_id, position, url) "
                 "values ('img', 'ghost', 1, 'https://x/y.jpg')")  # fmt: skip
    # the marts are tables: rebuild them on the broken rows, as the next run would
    assert run_models(conn, SQL_DIR / "models").ok
    conn.close()
    return warehouse


def test_shipped_rules_catch_broken_rows(broken_warehouse: Path, tmp_path: Path) -> None:
    settings = load_settings(env={}, warehouse=broken_warehouse)
    result = check_data(settings, read_only=True)
    found = {r.name: (r.outcome, r.failures, r.rows) for r in result.results if r.outcome != "pass"}
    assert found == {
        "relationships_article_provider_id": ("fail", 1, [{
            "article_id": QUANTUM, "provider_id": "nope",
            "source_path": (CORPUS / "dup_late.txt").as_posix(),
        }]),
        "accepted_range_article_quality": ("warn", 1, [{
            "article_id": BOM, "quality": -5, "source_path": (CORPUS / "bom_crlf.md").as_posix(),
        }]),
        # an orphan has no article to take a source path from
        "relationships_image_article_id": ("fail", 1, [
            {"image_id": "img", "article_id": "ghost", "source_path": None},
        ]),
        # the mart joins providers, so the orphan's article drops out of it
        "quality_by_provider_reconciles": ("fail", 1, [
            {"expected_article_count": 4, "reported_article_count": 3},
        ]),
    }  # fmt: skip
    assert result.headline() == f"{len(result.results) - 4} passed, 1 warned, 3 failed, 0 errored"


@pytest.mark.slow
def test_check_command_exits_1_and_shows_the_source_path(
    broken_warehouse: Path, fixture_run: tuple[Settings, RunSummary], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    proc = subprocess.run(
        [NEWSFLOW, "check", "--warehouse", str(broken_warehouse)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert (
        "FAIL relationships_article_provider_id [error]: every article.provider_id is in "
        "provider.provider_id; 1 row(s) break it\n"
        f"    article_id={QUANTUM}  provider_id=nope  "
        f"source_path={(CORPUS / 'dup_late.txt').as_posix()}\n"
    ) in proc.stdout
    assert "WARN accepted_range_article_quality [warn]: " in proc.stdout
    assert "1 warned, 3 failed, 0 errored in " in proc.stdout.splitlines()[-1]
    settings, _ = fixture_run
    clean = subprocess.run(
        [NEWSFLOW, "check", "--warehouse", str(settings.warehouse), "--select", "article"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("data tests: ") and " 0 failed, 0 errored" in clean.stdout


def test_check_warnings_alone_exit_0(
    fixture_run: tuple[Settings, RunSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = fixture_run
    warehouse = tmp_path / "warn.duckdb"
    shutil.copy(settings.warehouse, warehouse)
    conn = duckdb.connect(str(warehouse))
    conn.execute("update image set width = 0 where image_id = (select min(image_id) from image)")
    conn.close()
    assert cli.main(["check", "--warehouse", str(warehouse), "--select", "image"]) == 0
    out = capsys.readouterr().out
    assert "WARN accepted_range_image_width [warn]: image.width is >= 1; 1 row(s) break it" in out
    assert cli.main(["check", "--warehouse", str(warehouse), "--select", "nothing_here"]) == 2


# -- severities in a run ----------------------------------------------------------------------


def test_error_severity_fails_the_run_and_warn_does_not(tmp_path: Path) -> None:
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    (sql / "tests" / "no_example_com.sql").write_text(
        "-- no_example_com: no article from example.com\n"
        "select article_id, source_path from article where canonical_url like '%example.com%'"
    )
    seen: list[list[dict]] = []
    settings = load_settings(env={}, sources=(CORPUS,), warehouse=tmp_path / "w.duckdb",
                             workers=1, sql_dir=sql)  # fmt: skip
    with pytest.raises(StageFailed) as failed:
        run_ingest(settings, on_data_tests=seen.append)
    assert failed.value.stage == "data_tests"
    assert str(failed.value).startswith(
        "data_tests failed: " + f"{len(seen[0]) - 1} passed, 0 warned, 1 failed, 0 errored: "
        "no_example_com; see `newsflow check --warehouse "
    )
    [broken] = [r for r in seen[0] if r["outcome"] != "pass"]
    assert (broken["name"], broken["failures"]) == ("no_example_com", 3)
    # Nothing is published by a failed run: its row is in the writer's working copy.
    assert not settings.warehouse.exists()
    [run] = query(files_for(settings.warehouse).working, "select status, error from etl.run")
    assert run["status"] == "failed" and "no_example_com" in run["error"]

    (sql / "tests" / "no_example_com.sql").write_text(
        "-- no_example_com: no article from example.com\n-- severity: warn\n"
        "select article_id from article where canonical_url like '%example.com%'"
    )
    summary = run_ingest(settings)
    assert summary.status == "success"
    assert [(r["name"], r["outcome"]) for r in summary.data_tests if r["outcome"] != "pass"] == [
        ("no_example_com", "warn")
    ]
    from flows.pipeline.artifacts import summary_markdown

    shown = [line for line in summary_markdown(summary).splitlines() if "Data tests" in line]
    assert shown == [
        "Data tests: 107 passed, 1 warned, 0 failed, 0 errored (artifact `data-tests`)"
    ]


def test_list_positions_are_dense_finds_gaps_late_starts_and_repeats() -> None:
    conn = duckdb.connect()
    conn.execute("create table article (article_id varchar, source_path varchar)")
    conn.execute("create table article_topic (article_id varchar, position integer)")
    conn.execute("create table related (article_id varchar, position integer)")
    conn.execute("create table image (article_id varchar, related_id varchar, position integer)")
    conn.execute("insert into article values ('a', 'a.md'), ('b', 'b.md')")
    conn.execute("insert into article_topic values ('a', 1), ('a', 2), ('b', 1), ('b', 3)")
    conn.execute("insert into related values ('a', 2), ('a', 3), ('b', 1)")
    conn.execute(
        "insert into image values ('a', null, 1), ('a', null, 2), ('a', 'r1', 1), "
        "('b', 'r2', 1), ('b', 'r2', 3), ('b', 'r2', 3)"  # 1..3 by count, min and max; 3 twice
    )
    sql = (SQL_DIR / "tests" / "list_positions_are_dense.sql").read_text(encoding="utf-8")
    rows = sorted(conn.execute(sql).fetchall(), key=lambda row: row[0])
    assert rows == [
        ("article_topic", "b", None, 2, 1, 3, "b.md"),  # a gap
        ("image", "b", "r2", 3, 1, 3, "b.md"),  # a repeat
        ("related", "a", None, 2, 2, 3, "a.md"),  # starts at 2
    ]


def test_a_test_out_of_memory_beside_others_is_run_again_alone(
    things: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side, tests share one memory limit: a test that ran out of memory there is run
    again alone (here: on the caller's thread) and counts with that result; other errors stay."""
    import threading

    from flows.models import datatests

    real = datatests.run_data_test

    def crowded(conn: duckdb.DuckDBPyConnection, test: datatests.DataTest):  # type: ignore[no-untyped-def]
        if test.name == "odd_things" and threading.current_thread().name.startswith("data-test"):
            outcome = real(conn, test)
            outcome.outcome, outcome.error = "error", "Out of Memory Error: failed to allocate"
            return outcome
        return real(conn, test)

    monkeypatch.setattr(datatests, "run_data_test", crowded)
    singular = {
        "odd_things": "-- odd_things: thing ids are even\nselect thing_id from thing "
        "where thing_id % 2 = 1",
        "broken": "-- broken: cannot run\nselect no_such_column from thing",
    }
    result = run_data_tests(things, make_sql_dir(tmp_path, THINGS_YML, singular), threads=2)
    got = {r.name: (r.outcome, r.failures, r.rows) for r in result.results}
    assert got["odd_things"] == ("fail", 1, [{"thing_id": 1}])
    assert got["broken"][0] == "error"


def test_an_out_of_range_quality_is_kept_so_the_range_test_warns(tmp_path: Path) -> None:
    """quality: 150 used to load as NULL, so the declared warn-level range test could not fire."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text(
        "---\nwebUrl: https://example.com/a\ntitle: A\nquality: 150\n"
        "provider: {name: A, domain: a.org}\n"
        "related:\n  - webUrl: https://example.com/b\n    quality: -3\n---\n"
    )
    settings = load_settings(env={}, sources=(src,), warehouse=tmp_path / "q.duckdb", workers=1)
    summary = run_ingest(settings)
    assert summary.status == "success"  # warn severity: reported, not fatal
    assert query(settings.warehouse, "select quality from article") == [{"quality": 150}]
    assert query(settings.warehouse, "select quality from related") == [{"quality": -3}]
    warned = {r["name"]: r["failures"] for r in summary.data_tests if r["outcome"] == "warn"}
    assert warned["accepted_range_article_quality"] == 1
    assert warned["accepted_range_related_quality"] == 1
    assert [r["outcome"] for r in summary.data_tests if r["outcome"] not in ("pass", "warn")] == []
    assert query(
        settings.warehouse, "select field, message from etl.warning where field like '%quality'"
    ) == [
        {"field": "quality", "message": "150 is outside 0..100; kept"},
        {"field": "related[1].quality", "message": "-3 is outside 0..100; kept"},
    ]
