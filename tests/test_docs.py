"""Docs that tests keep honest: the README and docs/ name what exists, and the README's commands run."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.main import build_parser
from flows.settings import SQL_DIR
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CONTRACT_PAGE = (REPO / "docs" / "contract.md").read_text(encoding="utf-8")


def _subcommands() -> list[str]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a Markdown page."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _schema_tables() -> list[str]:
    ddl = "".join(p.read_text(encoding="utf-8") for p in sorted((SQL_DIR / "schema").glob("*.sql")))
    return sorted(re.findall(r"create table if not exists ([\w.]+)", ddl))


def _models() -> list[str]:
    return sorted(p.stem for p in (SQL_DIR / "models").rglob("*.sql"))


def _listed(text: str) -> list[str]:
    """The names in the first column of the Markdown tables of ``text``."""
    return sorted(re.findall(r"^\| `([\w.]+)` \|", text, re.M))


def test_readme_cheat_sheet_has_one_line_per_subcommand() -> None:
    sheet = _section(README, "Cheat sheet")
    assert sorted(re.findall(r"^\| `newsflow (\w+)", sheet, re.M)) == _subcommands()


def test_readme_lists_every_table_and_model_at_a_glance() -> None:
    assert len(_schema_tables()) == 16
    assert len(_models()) == 10
    glance = _section(README, "Tables and models at a glance")
    assert _listed(glance) == sorted(_schema_tables() + _models())


def test_contract_page_lists_every_warehouse_table() -> None:
    assert _listed(_section(CONTRACT_PAGE, "Warehouse tables")) == _schema_tables()


def test_contract_page_table_is_the_declared_contract() -> None:
    from flows.normalize.contract import render_markdown

    assert render_markdown() in CONTRACT_PAGE


def test_ci_runs_the_readme_install_and_test_commands() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert (
        "python3.11 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e '.[test]' && .venv/bin/pytest"
        in README
    )
    assert (
        "python3.11 -m venv .venv\n.venv/bin/pip install -q -c constraints.txt -e '.[test]'" in ci
    )
    assert "\n.venv/bin/pytest\n" in ci
    assert "-e . && .venv/bin/newsflow run\n" in README


def _doc_texts() -> dict[str, str]:
    docs = {"README.md": README}
    docs.update(
        {
            p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
            for p in REPO.glob("docs/*.md")
        }
    )
    return docs


def test_readme_links_every_docs_page() -> None:
    pages = sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md"))
    assert [page for page in pages if f"]({page})" not in README] == []


def test_architecture_lists_every_docs_page() -> None:
    """The ``docs/`` line of the tree in docs/architecture.md names every page."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    [line] = [ln for ln in text.splitlines() if ln.startswith("docs/ ")]
    pages = sorted(p.stem for p in REPO.glob("docs/*.md"))
    assert [page for page in pages if page not in line] == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_links_resolve() -> None:
    """Every relative link of the README and docs/ names a file that exists, and its #anchor a heading."""
    anchors = {
        (REPO / name).resolve(): {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
        for name, text in _doc_texts().items()
    }
    broken = []
    for name, text in _doc_texts().items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = ((REPO / name).parent / path).resolve() if path else (REPO / name).resolve()
            if not resolved.exists() or (anchor and anchor not in anchors.get(resolved, set())):
                broken.append(f"{name}: {target}")
    assert broken == []


def test_docs_name_only_files_that_exist() -> None:
    """A moved or renamed module or test leaves no stale path in the README or docs/."""
    stale = sorted(
        f"{name}: {path}"
        for name, text in _doc_texts().items()
        for path in re.findall(r"\b(?:flows|tests)/[\w/]+\.py\b", text)
        if not (REPO / path).is_file()
    )
    assert stale == []


def test_docs_python_imports_work() -> None:
    """Every ``from flows... import ...`` shown in the README or docs/ imports."""
    lines = sorted(
        {
            line
            for text in _doc_texts().values()
            for line in re.findall(r"from flows[\w.]* import [\w, ]+", text)
        }
    )
    assert lines
    for line in lines:
        exec(line, {})


# --- the README's commands, run in a fresh copy of the repository -----------------------------


def _readme_commands() -> list[tuple[str, int]]:
    """Every command line of the README's ```bash blocks, with the exit code it documents.

    A line is one command; a comment after it (two spaces, ``#``) saying ``exits N`` documents
    exit code N, otherwise 0 is expected. Lines that are only a comment are not commands.
    """
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", README, re.M | re.S):
        for line in block.splitlines():
            command, _, comment = line.partition("  # ")
            command = command.strip()
            if command and not command.startswith("#"):
                documented = re.search(r"\bexits (\d+)\b", comment)
                commands.append((command, int(documented[1]) if documented else 0))
    return commands


def _is_cheap(command: str) -> bool:
    """The rule for which README commands the test runs.

    Run: the commands whose program is ``source``, ``newsflow`` or ``python``. Skipped, because
    they are expensive: ``newsflow run`` without ``--no-prefect`` (a temporary Prefect server,
    10-20 s), ``newsflow serve`` (runs until stopped), ``newsflow bench`` (minutes), and every
    other program: the installs (Quick start commands 1 and 2; the test builds the warehouse
    with ``newsflow run --no-prefect`` in place of command 1's run), the test suite and the
    linters (they need the test extras and take minutes).
    """
    program = command.split()[0]
    if program not in {"source", "newsflow", "python"}:
        return False
    if command.startswith("newsflow run") and "--no-prefect" not in command:
        return False
    return not command.startswith(("newsflow serve", "newsflow bench"))


def _fresh_copy(root: Path) -> Path:
    """The repository's files (tracked, plus new ones not ignored) in a new git repo under ``root``.

    Its ``.venv`` is a stand-in for the Quick start's: ``activate`` puts ``.venv/bin`` first on
    the PATH, and ``newsflow`` and ``python`` there run this test's interpreter with the copy
    first on ``sys.path``, so the commands read and write the copy, never this checkout.
    """
    copy = root / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    bin_dir = copy / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = f'PYTHONPATH="{copy}" exec "{sys.executable}"'
    main = "from flows.cli.main import main; import sys; sys.argv[0] = 'newsflow'; sys.exit(main())"
    scripts = {
        "activate": f'export VIRTUAL_ENV="{copy}/.venv"\nexport PATH="$VIRTUAL_ENV/bin:$PATH"\n',
        "newsflow": f'#!/bin/sh\n{python} -c "{main}" "$@"\n',
        "python": f'#!/bin/sh\n{python} "$@"\n',
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "copy"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    return copy


@pytest.mark.slow
def test_readme_commands_run_as_documented_and_leave_git_status_clean(tmp_path: Path) -> None:
    """The cheap README commands (see ``_is_cheap``), in order in one shell, in a fresh copy."""
    commands = _readme_commands()
    cheap = [(command, code) for command, code in commands if _is_cheap(command)]
    ran = {command.split()[1] for command, _ in cheap if command.startswith("newsflow ")}
    assert {"--help", "contract", "query", "rejections", "tables", "check", "explain"} <= ran
    assert [c for c, _ in commands if not _is_cheap(c)][:2] == [
        "python3.11 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e . && .venv/bin/newsflow run",
        "python3.11 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e '.[test]' && .venv/bin/pytest",
    ]

    copy = _fresh_copy(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    # command 1's run, as command 1 writes it (no venv is active yet); bare `newsflow` in the
    # later lines works only through the README's own `source .venv/bin/activate`
    script = [".venv/bin/newsflow run --no-prefect --quiet"]
    for i, (command, _) in enumerate(cheap):
        script.append(f'{command} >"{out}/{i}.log" 2>&1; echo $? >"{out}/{i}.rc"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    path = [d for d in env.get("PATH", "").split(os.pathsep) if not (Path(d) / "newsflow").exists()]
    env["PATH"] = os.pathsep.join(path)  # a new shell: no newsflow on the PATH
    env["MPLBACKEND"] = "Agg"
    subprocess.run(
        ["bash", "-c", "set -e\n" + script[0] + "\nset +e\n" + "\n".join(script[1:])],
        cwd=copy,
        env=env,
        check=True,
        timeout=600,
    )

    exits = [(command, int((out / f"{i}.rc").read_text())) for i, (command, _) in enumerate(cheap)]
    logs = {
        command: (out / f"{i}.log").read_text(errors="replace")[-2000:]
        for i, ((command, code), (_, got)) in enumerate(zip(cheap, exits, strict=True))
        if code != got
    }
    assert exits == cheap, logs
    assert cheap[0][0] == "source .venv/bin/activate"  # before the first bare `newsflow`
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""


@pytest.mark.slow
def test_gitignore_covers_what_runs_write_beside_a_warehouse() -> None:
    """The private folder, its lock, spill folders and default outputs are ignored, in and out of warehouse/."""
    paths = [
        "warehouse/news.duckdb",
        "warehouse/.news.duckdb.newsflow/writer.lock",
        "warehouse/.news.duckdb.newsflow/working.duckdb",
        "warehouse/news.duckdb.tmp/spill.block",
        "warehouse/catalog/catalog.md",
        "warehouse/report/report.html",
        "warehouse/export/manifest.json",
        "out/x.duckdb",
        "out/.x.duckdb.newsflow/writer.lock",
        "out/report/report.html",
        "elsewhere/.x.duckdb.newsflow/writer.lock",
        "elsewhere/x.duckdb.tmp/spill.block",
        "build/parquet/manifest.json",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO,
        input="\n".join(paths) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.splitlines() == paths
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "warehouse/.gitkeep", "docs/operations.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (kept.returncode, kept.stdout) == (1, "")


def test_readme_is_a_short_guide_with_contents_and_one_suite_time() -> None:
    """At most about 250 lines; a contents list naming every section; the suite times it
    states agree with docs/performance.md."""
    lines = README.splitlines()
    assert len(lines) <= 250
    sections = re.findall(r"^## (.+)$", README, re.M)
    contents = README.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- \[(.+?)\]\(#", contents, re.M)
    assert listed == [s for s in sections if s != "Contents"]
    stated = re.search(r"about (\d+) min on\s+2 idle cores \((\d[\d,]*) tests\)", README)
    assert stated, "the README states the suite's time and size"
    performance = (REPO / "docs" / "performance.md").read_text()
    assert f"about {stated[1]} min" in performance and f"{stated[2]} tests" in performance
