"""The newsflow command, through real subprocesses: summary, exit codes, env overrides."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.load.publish import files_for
from tests.conftest import CORPUS, query, table_contents

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))

pytestmark = pytest.mark.slow  # every test here runs the newsflow command in a subprocess


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return subprocess.run(
        [NEWSFLOW, *args], cwd=cwd, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("seed.txt", "bom_crlf.md", "dashes_in_value.txt", "tab_indent.txt"):
        shutil.copy(CORPUS / name, src / name)
    return src


def test_run_loads_good_files_and_reports_the_bad_one(mixed_corpus: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--no-prefect", "--source", "src", "--warehouse", "out/x.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (
        "files: 4 seen = 3 loaded + 1 rejected + 0 skipped (0 unchanged, 0 superseded) "
        "+ 0 ignored; 6 warning(s)"  # dashes_in_value: 5, and its repeated topic
    ) in out
    assert (
        "src/tab_indent.txt:5:1: could not parse front matter: found character that cannot start "
        "any token (a tab: YAML is indented with spaces)" in out
    )
    assert "quality_by_provider (top 2):" in out
    assert "Example News" in out and "Al Jazeera English" in out
    assert query(tmp_path / "out" / "x.duckdb", "select count(*) as n from article") == [{"n": 3}]


def test_strict_exits_1_when_anything_is_rejected(mixed_corpus: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        "--no-prefect",
        "--strict",
        "--source",
        "src",
        "--warehouse",
        "x.duckdb",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "--strict: 1 document(s) rejected" in proc.stderr
    (mixed_corpus / "tab_indent.txt").unlink()
    proc = run_cli(
        "run",
        "--no-prefect",
        "--strict",
        "--source",
        "src",
        "--warehouse",
        "x.duckdb",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "args",
    [("run", "--workers", "0"), ("run", "--batch-size", "many"), ("explode",), ()],
)
def test_usage_errors_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: newsflow" in proc.stderr


def test_missing_source_fails_with_a_clear_message(tmp_path: Path) -> None:
    proc = run_cli(
        "run", "--no-prefect", "--source", "nowhere", "--warehouse", "x.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "newsflow: discover failed: source not found: nowhere"
    # Found before the run starts: no warehouse, no working copy, no lock.
    assert list(tmp_path.iterdir()) == []


def _user_error_setups(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Run arguments that are user errors, and the one line each must print."""
    (tmp_path / "src").mkdir()
    shutil.copy(CORPUS / "seed.txt", tmp_path / "src" / "seed.txt")
    (tmp_path / "folder.duckdb").mkdir()
    (tmp_path / "notes.duckdb").write_text("not a warehouse\n")
    way_out = (
        "; newsflow only writes warehouses it created and never modifies another file "
        "(--full-refresh included): choose another --warehouse path, or move this one away"
    )
    return {
        "missing source": (
            ["--source", "/nope", "--warehouse", "out/x.duckdb"],
            "newsflow: discover failed: source not found: /nope",
        ),
        "folder": (
            ["--source", "src", "--warehouse", "folder.duckdb"],
            f"newsflow: warehouse failed: {tmp_path / 'folder.duckdb'} is a folder, not a "
            f"warehouse file{way_out}",
        ),
        "foreign file": (
            ["--source", "src", "--warehouse", "notes.duckdb"],
            f"newsflow: warehouse failed: {tmp_path / 'notes.duckdb'} is not a DuckDB database, "
            f"so not a newsflow warehouse{way_out}",
        ),
    }


@pytest.mark.parametrize("case", ["missing source", "folder", "foreign file"])
def test_user_errors_are_found_before_prefect_starts(case: str, tmp_path: Path) -> None:
    """The default (Prefect) path: one clean line, exit 1, nothing created, Prefect never
    started (it used to start a temporary API, log a 15-line traceback from
    prefect/task_engine.py and leave out/.x.duckdb.newsflow/writer.lock)."""
    args, message = _user_error_setups(tmp_path)[case]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = run_checkout("run", *args, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message + "\n")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_stage_failing_inside_the_flow_prints_no_traceback(
    mixed_corpus: Path, tmp_path: Path
) -> None:
    """A user-caused StageFailed inside the flow (here: another run holds the warehouse) logs
    its task's failure in one line, no traceback, and the command ends with its message."""
    from flows.load.publish import writer_lock

    files = files_for(tmp_path / "x.duckdb")
    with writer_lock(files, "other-run", 1):
        proc = run_checkout(
            "run", "--source", "src", "--warehouse", "x.duckdb", "--lock-timeout", "0",
            cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Task run 'lock-" in proc.stderr  # Prefect's own one-line record of the failure
    # the last line; the temporary API is newsflow's own child, stopped without a line
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "newsflow: lock failed: another newsflow run holds the warehouse "
        f"{tmp_path / 'x.duckdb'} (run other-run, pid {os.getpid()}"
    ), proc.stderr
    assert "Stopping temporary server" not in proc.stderr  # Prefect started none of its own


def test_strict_under_prefect_fails_the_flow_run_and_exits_1(
    mixed_corpus: Path, tmp_path: Path
) -> None:
    """``--strict`` is a flow parameter: the flow run ends Failed, as the exit code says."""
    proc = run_checkout(
        "run", "--strict", "--source", "src", "--warehouse", "x.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "--strict: 1 document(s) rejected" in proc.stderr
    assert "Finished in state Failed('strict failed: 1 document(s) rejected" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    [run] = query(tmp_path / "x.duckdb", "select status from etl.run")
    assert run == {"status": "success"}  # published: strict judges the run, not the data


READ_COMMANDS = [
    ("rejections",), ("explain", "src/seed.txt"), ("status",), ("query", "select 1"),
    ("tables",), ("report",), ("export",), ("models",), ("check",),
]  # fmt: skip


@pytest.mark.parametrize("command", READ_COMMANDS, ids=[c[0] for c in READ_COMMANDS])
def test_a_missing_warehouse_is_one_error_for_every_command(
    command: tuple[str, ...],
    mixed_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``rejections --warehouse typo.duckdb`` used to exit 0 with "0 file(s) in the
    quarantine" (a false all-clear), ``explain FILE --warehouse /typo`` exited 0, and the others
    said it in three wordings."""
    from flows.cli import main as cli

    monkeypatch.chdir(tmp_path)
    assert cli.main([*command, "--warehouse", "typo.duckdb"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "newsflow: warehouse not found: typo.duckdb (load it first with "
                          "newsflow run)\n")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_explain_without_a_warehouse_explains_the_file(
    mixed_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --warehouse and no default warehouse: the file is explained, the warehouse part left
    out (an explicit --warehouse that is missing is an error, above)."""
    from flows.cli import main as cli

    monkeypatch.delenv("NEWSFLOW_WAREHOUSE", raising=False)
    real = cli.load_settings
    absent = tmp_path / "absent.duckdb"
    monkeypatch.setattr(
        cli, "load_settings", lambda **kw: real(**{**kw, "warehouse": kw["warehouse"] or absent})
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["explain", "src/seed.txt"]) == 0
    out, err = capsys.readouterr()
    assert "article: 1 row(s)" in out and err == ""
    assert "warehouse" not in out.split("\n\n")[-1]


def test_docs_takes_warehouse_and_writes_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docs`` was the only subcommand without --warehouse; its --out defaults beside it."""
    from flows.cli import main as cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["docs", "--warehouse", "w/x.duckdb"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[:2] == ["wrote w/catalog/catalog.md", "wrote w/catalog/catalog.html"]
    assert not (tmp_path / "w" / "x.duckdb").exists()


@pytest.mark.parametrize(
    ("docs", "message"),
    [("0", "must be at least 1, got 0"), ("-5", "must be 0 or more, got -5"),
     ("many", "not a whole number: 'many'")],
)  # fmt: skip
def test_bench_arguments_are_usage_errors(
    docs: str, message: str, capsys: pytest.CaptureFixture
) -> None:
    from flows.cli import main as cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["bench", "--docs", docs])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"newsflow bench: error: argument --docs: {message}"
    )


def test_help_shows_an_example(tmp_path: Path) -> None:
    proc = run_cli("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "newsflow run --source path/to/articles --warehouse out/x.duckdb" in proc.stdout


@pytest.mark.slow
def test_run_through_prefect_with_env_warehouse(mixed_corpus: Path, tmp_path: Path) -> None:
    """The default path: the Prefect flow on an ephemeral API; NEWSFLOW_* env overrides."""
    env = {"NEWSFLOW_WAREHOUSE": str(tmp_path / "env.duckdb"), "NEWSFLOW_SOURCE": "src"}
    proc = run_cli("run", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "files: 4 seen = 3 loaded" in proc.stdout
    assert "database is locked" not in proc.stdout + proc.stderr
    logged = (proc.stdout + proc.stderr).splitlines()
    assert [line for line in logged if "ERROR" in line or "WARNING" in line] == []
    [run] = query(tmp_path / "env.duckdb", "select run_id, flow_run_id, status from etl.run")
    assert run["status"] == "success"
    assert run["flow_run_id"] == run["run_id"]
    # Same rows as the plain-Python path.
    plain = run_cli(
        "run",
        "--no-prefect",
        "--warehouse",
        "plain.duckdb",
        cwd=tmp_path,
        env={"NEWSFLOW_SOURCE": "src"},
    )
    assert plain.returncode == 0
    assert table_contents(tmp_path / "env.duckdb") == table_contents(tmp_path / "plain.duckdb")


def test_rejections_lists_the_quarantine(mixed_corpus: Path, tmp_path: Path) -> None:
    run_cli("run", "--no-prefect", "--source", "src", "--warehouse", "q.duckdb", cwd=tmp_path)
    proc = run_cli("rejections", "--warehouse", "q.duckdb", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == (
        "src/tab_indent.txt:5:1: could not parse front matter: found character that cannot "
        "start any token (a tab: YAML is indented with spaces) [yaml_syntax]\n"
    )
    assert "1 file(s) in the quarantine of q.duckdb" in proc.stderr


def test_rejections_by_kind_and_an_unknown_kind(mixed_corpus: Path, tmp_path: Path) -> None:
    (mixed_corpus / "no_url.md").write_text("---\ntitle: x\n---\n")
    (mixed_corpus / "sub").mkdir()
    os.symlink(mixed_corpus / "sub", mixed_corpus / "latest")  # a folder link: said, not silent
    run = run_cli("run", "--no-prefect", "--source", "src", "--warehouse", "k.duckdb", cwd=tmp_path)
    assert (
        "ignored links (1; docs/sandbox.md):\n  src/latest: a symbolic link to the folder "
        f"{(mixed_corpus / 'sub').resolve()}, inside the sources: not followed "
        "(its files are read under their own path)\n"
    ) in run.stdout
    assert "+ 1 ignored;" in run.stdout
    assert "rejected by kind (all 2): no_url 1, yaml_syntax 1" in run.stdout
    assert (
        "  src/no_url.md: no webUrl or originalUrl: an article needs a URL to be identified "
        "[no_url]" in run.stdout
    )
    only = run_cli("rejections", "--warehouse", "k.duckdb", "--kind", "no_url", cwd=tmp_path)
    assert (only.returncode, only.stdout) == (
        0, "src/no_url.md: no webUrl or originalUrl: an article needs a URL to be identified "
        "[no_url]\n",
    )  # fmt: skip
    both = run_cli("rejections", "--warehouse", "k.duckdb", "--kind", "no_url,yaml_syntax",
                   cwd=tmp_path)  # fmt: skip
    assert both.stdout.count("\n") == 2 and "1 file(s)" not in both.stderr
    bad = run_cli("rejections", "--warehouse", "k.duckdb", "--kind", "nourl", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith(
        "newsflow: error: unknown rejection kind nourl (known: bad_file_name, binary,"
    )
    assert bad.stdout == ""


def test_explain_shows_rows_or_the_rejection(mixed_corpus: Path, tmp_path: Path) -> None:
    run_cli("run", "--no-prefect", "--source", "src", "--warehouse", "e.duckdb", cwd=tmp_path)
    good = run_cli("explain", "src/seed.txt", "--warehouse", "e.duckdb", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    for line in ("file: src/seed.txt", "article: 1 row(s)", "provider: 4 row(s)",
                 "related: 3 row(s)", "image: 4 row(s)", "topic: 3 row(s)",
                 "warehouse e.duckdb: loaded as article_id 26adda6e9f939c78, identical to this file"):  # fmt: skip
        assert line in good.stdout
    assert "  topic_id='e0524f48691e5177', name='AI'" in good.stdout
    bad = run_cli("explain", "src/tab_indent.txt", "--warehouse", "e.duckdb", cwd=tmp_path)
    assert bad.returncode == 1
    assert (
        "REJECTED at extract (yaml_syntax):\n  src/tab_indent.txt:5:1: could not parse"
        in bad.stdout
    )
    assert "warehouse e.duckdb: quarantined by run" in bad.stdout
    missing = run_cli("explain", "src/nope.md", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (1, "newsflow: no such file: src/nope.md\n")


def test_contract_prints_the_declared_table(tmp_path: Path) -> None:
    from flows.normalize.contract import render_markdown

    proc = run_cli("contract", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, render_markdown())


def run_checkout(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m flows.cli.main``: the code of the checkout these tests are in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    repo = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "flows.cli.main", *args], cwd=cwd,
        env={**base, "PYTHONPATH": repo, **(env or {})},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--top", "-1"), {}, "newsflow run: error: argument --top: must be 0 or more, got -1"),
        (("--lock-timeout", "-1"), {},
         "newsflow run: error: argument --lock-timeout: must be 0 or more, got -1"),
        (("--max-file-bytes", "0"), {},
         "newsflow run: error: argument --max-file-bytes: must be at least 1, got 0"),
        ((), {"NEWSFLOW_MAX_FILE_BYTES": "0"},
         "newsflow: error: NEWSFLOW_MAX_FILE_BYTES: max file bytes must be >= 1, got 0"),
        ((), {"NEWSFLOW_LOCK_TIMEOUT": "-1"},
         "newsflow: error: NEWSFLOW_LOCK_TIMEOUT: lock timeout must be >= 0, got -1.0"),
        ((), {"NEWSFLOW_WORKERS": "many"},
         "newsflow: error: NEWSFLOW_WORKERS: not a whole number: 'many'"),
    ],
)  # fmt: skip
def test_every_limit_is_refused_before_the_run_starts(
    args: tuple[str, ...], env: dict[str, str], message: str, mixed_corpus: Path, tmp_path: Path
) -> None:
    """A bad flag or variable exits 2 naming it, and nothing is written (``--top -1`` used to
    fail after the run had published)."""
    proc = run_checkout(
        "run", "--no-prefect", "--source", "src", "--warehouse", "x.duckdb", *args,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert (proc.returncode, proc.stderr.strip().splitlines()[-1]) == (2, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_workers_beyond_the_cores_are_clamped_with_a_note(
    mixed_corpus: Path, tmp_path: Path
) -> None:
    """``--workers 1000`` runs the available cores' worth of processes, and says so."""
    cores = len(os.sched_getaffinity(0))
    proc = run_checkout(
        "run", "--no-prefect", "--quiet", "--workers", "1000", "--source", "src",
        "--warehouse", "x.duckdb", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"newsflow: 1000 workers asked, {cores} available core(s): using {cores} (more "
        "processes parse no faster and each holds a chunk in memory)"
    ]
    recorded = query(tmp_path / "x.duckdb", "select parameters->>'workers' as w from etl.run")
    assert recorded == [{"w": str(cores)}]


def test_a_jekyll_blog_loads_with_its_profile_from_the_command_line(tmp_path: Path) -> None:
    site = shutil.copytree(Path(__file__).parents[1] / "fixtures" / "sites" / "jekyll",
                           tmp_path / "blog")  # fmt: skip
    base = ["--source", str(site), "--warehouse", "w.duckdb", "--no-prefect"]
    proc = run_cli("run", *base, "--profile", "jekyll", "--base-url", "https://j.example/",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "files: 5 seen = 4 loaded + 1 rejected" in proc.stdout
    urls = query(tmp_path / "w.duckdb", "select canonical_url from article order by 1")
    assert [r["canonical_url"] for r in urls] == [
        "https://j.example/custom/permalink/",
        "https://j.example/jekyll/update/2024/01/15/welcome-to-jekyll.html",
        "https://j.example/news/2024/04/01/in-folder.html",
        "https://j.example/releases/2024/03/10/no-date-key.html",
    ]
    unknown = run_cli("run", *base, "--profile", "gatsby", cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr) == (2, "newsflow: error: unknown profile 'gatsby': "
                                                    "pass one of blog, default, hugo, jekyll or the "
                                                    "path of a profile file\n")  # fmt: skip
    relative = run_cli("run", *base, "--profile", "jekyll", "--base-url", "j.example", cwd=tmp_path)
    assert (relative.returncode, relative.stderr) == (
        2, "newsflow: error: --base-url: not an absolute http(s) URL: 'j.example' (the site's "
        "address, e.g. https://example.org/)\n",
    )  # fmt: skip
    shown = run_cli("contract", "--profile", "jekyll", cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.startswith("# profile jekyll, recorded as contract version 4+jekyll@2:")
    assert 'derive_url = "jekyll"' in shown.stdout
