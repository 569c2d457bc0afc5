"""Docs that tests keep honest: README lists every subcommand and model, and CI's commands."""

from __future__ import annotations

import argparse

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
