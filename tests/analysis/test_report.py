"""`newsflow report`: one self-contained HTML file with the charts embedded, checked by content;
and the analysis notebook, kept stripped of outputs (CI executes it, see .ci/run)."""

from __future__ import annotations

import base64
import html
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from flows.analysis.report import write_report
from flows.analysis.warehouse import Warehouse
from flows.ingest import run_ingest
from flows.settings import DEFAULT_SOURCE, load_settings
from tests.conftest import REPO

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
IMAGE = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def seed_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "seed.duckdb"
    run_ingest(load_settings(env={}, sources=(DEFAULT_SOURCE,), warehouse=path, workers=1))
    return path


@pytest.fixture(scope="module")
def page(seed_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("html")
    with Warehouse(seed_warehouse) as wh:
        report = write_report(wh, out)
    assert report.path == out / "report.html"
    assert [p.name for p in out.iterdir()] == ["report.html"]
    text = report.path.read_text(encoding="utf-8")
    assert report.bytes == len(text.encode("utf-8"))
    return text


def test_report_embeds_five_png_charts(page: str) -> None:
    charts = []
    for alt, data in IMAGE.findall(page):
        png = base64.b64decode(data, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        charts.append((alt, struct.unpack(">II", png[16:24])))  # IHDR width, height
    assert charts == [
        ("Bar chart of mean quality per provider", (825, 640)),
        ("Articles per month for the biggest topics", (880, 665)),
        ("Heatmap of articles per provider and topic", (1056, 704)),
        ("Network of citations between providers", (825, 825)),
        ("Share of articles with an image, and of images cached", (990, 469)),
    ]
    assert page.count("<img ") == 5


def test_report_is_self_contained(page: str) -> None:
    assert page.startswith('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">')
    assert page.rstrip().endswith("</body></html>")
    assert "<title>newsflow report</title>" in page
    assert re.findall(r"(?:src|href)=\"(?!data:|#)", page) == []
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page


def test_report_states_the_findings(page: str) -> None:
    findings = [
        "Reuters has the highest mean quality (88.86 over 7 articles), Dhaka Tribune the lowest "
        "(39.00 over 1).",
        "Fewer than 3 articles, so read their mean with care: Al Jazeera English, Dhaka Tribune.",
        "AI is the biggest topic (24 articles); its busiest month was 2020-12 (4 articles).",
        "The chart covers 14 months, 2020-12 to 2022-01.",
        "VentureBeat has the most topic tags (17); its most frequent topic is AI (5 articles).",
        "AI is covered by the most providers (10 of 11).",
        "106 related entries link 16 providers through 68 provider-to-provider links; 5 entries "
        "point back to their own provider.",
        "41 of the entries (39 %) are articles loaded in the warehouse; the rest are a coverage "
        "gap.",
        "Reuters is cited most by other providers (13 times); Reuters cites the widest range "
        "(8 other providers).",
        "The chart draws the 30 strongest of the 68 links (62 % of the citations between "
        "providers); the table lists the strongest, the model related_citations holds them all.",
        "92 % of live articles (44 of 48) have an image of their own, 1.33 images per article on "
        "average.",
        "Reuters is the best illustrated (100 % of 7 articles), Al Jazeera English the least "
        "(50 % of 2).",
        "86 % of the images (55 of 64) are cached.",
        "Median image widths run from 600 to 2040 px across providers.",
    ]
    assert re.findall(r"<li>([^<]*)</li>", page) == [html.escape(f) for f in findings]
    assert (
        '<ul class="figures"><li><b>48</b>live articles</li><li><b>11</b>providers</li>'
        "<li><b>12</b>topics</li><li><b>106</b>related entries</li>"
        "<li><b>2020-12-01 to 2022-01-24</b>published</li></ul>"
    ) in page


def test_report_tables_hold_the_model_rows(page: str) -> None:
    sections = re.findall(r'<section id="([a-z]+)">', page)
    assert sections == ["quality", "topics", "heatmap", "citations", "images"]
    assert (
        '<tr><td>Reuters</td><td class="num">7</td><td class="num">88.9</td>'
        '<td class="num">89.0</td><td class="num">100 %</td><td>2020-12-17</td>'
        "<td>2022-01-21</td></tr>"
    ) in page
    assert (
        "<tr><td>Machine Learning</td><td>Natural Language Processing</td>"
        '<td class="num">6</td><td class="num">2.94</td></tr>'
    ) in page
    assert (
        '<tr><td>The Verge</td><td>Wired</td><td class="num">4</td><td class="num">3</td>'
        '<td class="num">1</td></tr>'
    ) in page
    assert (
        '<tr><td>The Verge</td><td class="num">5</td><td class="num">100 %</td>'
        '<td class="num">1.60</td><td class="num">88 %</td><td class="num">2040</td>'
        '<td class="num">1254</td></tr>'
    ) in page
    rows = {key: body.count("<tr><td") for key, body in _tables(page)}
    assert rows == {
        "quality_by_provider": 11,
        "topic_pairs (lift above 1, at least 2 articles)": 10,
        "related_citations (top 10 links)": 10,
        "image_coverage": 11,
    }


@pytest.mark.slow
def test_cli_report_writes_the_file(seed_warehouse: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["NEWSFLOW_WAREHOUSE"] = str(seed_warehouse)
    proc = subprocess.run(
        [NEWSFLOW, "report", "--out", "site", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    written = (tmp_path / "site" / "report.html").read_text(encoding="utf-8")
    assert len(IMAGE.findall(written)) == 5
    missing = subprocess.run(
        [NEWSFLOW, "report", "--warehouse", "none.duckdb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (missing.returncode, missing.stderr) == (
        1,
        "newsflow: warehouse not found: none.duckdb (load it first with newsflow run)\n",
    )


def test_notebook_is_committed_without_outputs() -> None:
    import nbformat

    notebook = nbformat.read(REPO / "notebooks" / "analysis.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    imports = [line for line in code[0].source.splitlines() if line.startswith("from ")]
    assert imports == ["from flows import Warehouse", "from flows.analysis import charts"]
    for line in imports:  # the names exist (the notebook itself runs in .ci/run)
        exec(line, {})
    titles = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"]
    assert [t for t in titles if t.startswith("## ")] == [
        "## What is in it",
        "## 1. Quality by provider",
        "## 2. Topic trends over time",
        "## 3. Which providers write about which topics",
        "## 4. The related-citation network",
        "## 5. Image coverage",
        "## Going further",
    ]


def _tables(page: str) -> list[tuple[str, str]]:
    return [
        (html.unescape(caption), body)
        for caption, body in re.findall(r"<caption>([^<]*)</caption>(.*?)</table>", page)
    ]
