"""Docs that tests keep honest: README lists every subcommand and model, and CI's commands."""

from __future__ import annotations

import argparse
import re

from flows.cli.main import build_parser
from flows.settings import SQL_DIR
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _subcommands() -> list[str]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def test_readme_mentions_every_subcommand() -> None:
    missing = [c for c in _subcommands() if f"newsflow {c}" not in README]
    assert missing == []


def test_readme_lists_every_model() -> None:
    models = sorted(p.stem for p in (SQL_DIR / "models").rglob("*.sql"))
    assert models
    missing = [m for m in models if f"| `{m}` |" not in README]
    assert missing == []


def test_readme_lists_every_warehouse_table() -> None:
    for table in ("article", "provider", "image", "related", "topic", "article_topic",
                  "etl.run", "etl.rejection", "etl.warning"):  # fmt: skip
        assert f"| `{table}` |" in README


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


def test_readme_contract_table_is_the_declared_contract() -> None:
    from flows.normalize.contract import render_markdown

    assert render_markdown() in README


def _doc_texts() -> dict[str, str]:
    docs = {"README.md": README}
    docs.update(
        {
            p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
            for p in REPO.glob("docs/*.md")
        }
    )
    return docs


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
