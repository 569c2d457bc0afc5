"""The report and the catalog render in a real browser (headless Chromium) without a console
message, and the catalog's search runs: issue 20. Skipped where no Chromium is installed (this
project's CI machine has it: ``apt install chromium``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from flows.settings import load_settings

pytestmark = pytest.mark.slow
NEWSFLOW = str(Path(sys.executable).parent / "newsflow")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds' warehouse with its report and catalog written beside it."""
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine")
    root = tmp_path_factory.mktemp("browser")
    run_ingest(load_settings(env={}, warehouse=root / "seeds.duckdb", workers=1))
    for command in ("report", "docs"):
        done = subprocess.run(
            [NEWSFLOW, command, "--warehouse", str(root / "seeds.duckdb")], cwd=root,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return root


def render(url: str, home: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and every console line the page logged."""
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={home}", "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def test_the_report_renders_without_a_console_message(pages: Path) -> None:
    dom, console = render((pages / "report" / "report.html").as_uri(), pages / "chrome")
    assert console == []
    assert dom.count(' src="data:image/png;base64,') == 5  # every chart, inline
    for title in ("Quality by provider", "Topic trends", "Image coverage"):
        assert f">{title}</h2>" in dom


def test_the_catalog_renders_and_its_search_filters(pages: Path) -> None:
    page = (pages / "catalog" / "catalog.html").as_uri()
    dom, console = render(page, pages / "chrome")
    assert console == []
    assert re.search(r">\s*24 of 24 relations\s*<", dom)
    dom, console = render(page + "?q=quality", pages / "chrome")
    assert console == []
    assert re.search(r">\s*9 of 24 relations\s*<", dom)  # the script ran on ?q=
