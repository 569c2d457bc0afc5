"""The charts' pure parts: percentages as people read them, trend axes cut to the data's range,
and a citation network that stays readable however many providers there are."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from matplotlib.text import Annotation

from flows.analysis import charts
from flows.analysis.warehouse import Warehouse
from flows.ingest import run_ingest
from flows.settings import DEFAULT_SOURCE, load_settings
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0.7273, "73 %"), (1.0, "100 %"), (0.0, "0 %"), (0.875, "88 %"), (0.125, "13 %"),
        (0.045, "4.5 %"), (0.0999, "10 %"), (0.9961, "99.6 %"), (0.0004, "< 0.1 %"),
        (None, "-"), (float("nan"), "-"),
    ],
)  # fmt: skip
def test_percent(share: float | None, text: str) -> None:
    assert charts.percent(share) == text


def _months(counts: list[list[int]]) -> pd.DataFrame:
    index = pd.date_range("2021-01-01", periods=len(counts), freq="MS")
    return pd.DataFrame(counts, index=index, columns=["a", "b"])


def test_cut_to_range_drops_sparse_ends_and_says_what() -> None:
    frame = _months([[1, 0], [100, 50], [0, 0], [90, 80], [1, 1], [0, 0], [0, 2]])
    kept = charts.cut_to_range(frame)
    assert [str(m)[:7] for m in kept.index] == ["2021-02", "2021-03", "2021-04"]
    assert kept.attrs["cut"] == {"before": (1, 1), "after": (3, 4)}
    found = charts.topic_findings(kept)
    assert found[1:] == [
        "The chart covers 3 months, 2021-02 to 2021-04.",
        "1 topic tags in 1 sparse months before 2021-02 are left out (each month under 2 % of "
        "the busiest).",
        "4 topic tags in 3 sparse months after 2021-04 are left out (each month under 2 % of the "
        "busiest).",
    ]


def test_cut_to_range_keeps_a_dense_range_whole() -> None:
    frame = _months([[3, 0], [0, 0], [1, 4]])
    kept = charts.cut_to_range(frame)
    assert kept.equals(frame)
    assert kept.attrs["cut"] == {"before": (0, 0), "after": (0, 0)}
    assert len(charts.topic_findings(kept)) == 2


def _links(providers: int) -> pd.DataFrame:
    names = [f"P{i:02d}" for i in range(providers)]
    rows = [
        (a, b, 1 + (7 * i + 3 * j) % 11, False)
        for i, a in enumerate(names)
        for j, b in enumerate(names)
        if a != b
    ]
    return pd.DataFrame(
        rows,
        columns=["citing_provider_name", "cited_provider_name", "citation_count",
                 "is_self_citation"],
    )  # fmt: skip


def test_network_draws_the_strongest_links_and_every_provider() -> None:
    frame = _links(22)  # 462 links, as a 20,000-document corpus has
    fig = charts.plot_citation_network(frame)
    [ax] = fig.axes
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    labels = {t.get_text() for t in ax.texts if not isinstance(t, Annotation)}
    assert len(arrows) == charts.TOP_LINKS == 30
    assert labels == set(frame["citing_provider_name"])
    assert ax.get_title().startswith(
        "Related-article citations between providers (the 30 strongest of 462 links)\n"
    )
    small = charts.plot_citation_network(_links(4))
    assert "(every link)" in small.axes[0].get_title()
    assert sum(isinstance(t, Annotation) for t in small.axes[0].texts) == 12


def test_image_findings() -> None:
    frame = pd.DataFrame({
        "provider_name": ["A", "B"], "article_count": [3, 8], "articles_with_images": [3, 2],
        "image_share": [1.0, 0.25], "image_count": [6, 2], "cached_image_count": [1, 0],
        "median_width": [800.0, 800.0],
    })  # fmt: skip
    assert charts.image_findings(frame) == [
        "45 % of live articles (5 of 11) have an image of their own, 0.73 images per article on "
        "average.",
        "A is the best illustrated (100 % of 3 articles), B the least (25 % of 8).",
        "13 % of the images (1 of 8) are cached.",
        "The median image is 800 px wide at every provider.",
    ]


@pytest.fixture(scope="module")
def seed_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    path = tmp_path_factory.mktemp("charts") / "seed.duckdb"
    run_ingest(load_settings(env={}, sources=(DEFAULT_SOURCE,), warehouse=path, workers=1))
    with Warehouse(path) as wh:
        yield wh


def test_readings_on_the_sample_corpus(seed_wh: Warehouse) -> None:
    """The notebook's prose, computed from the frames: exact for the sample corpus."""
    quality = charts.quality_reading(charts.quality_frame(seed_wh))
    assert quality == (
        "Across 11 providers the means span 49.9 points: Reuters leads (88.9 over 7 articles), "
        "Dhaka Tribune trails (39.0). Al Jazeera English and Dhaka Tribune rest on fewer than "
        "three articles: anecdotes rather than a ranking. Medians track means within 2.8 points, "
        "so no single outlier drives a score. Watch published_share too: Al Jazeera English has "
        "the lowest (0 % of its articles flagged as published)."
    )
    assert quality._repr_markdown_() == f"**Reading it.** {quality}"
    topics = charts.topic_reading(charts.topic_month_frame(seed_wh))
    assert topics.startswith(
        "AI appears in 14 of 14 months: a steady theme. Computer Vision appears in 9 of 14 "
        "months and peaks in 2020-12 (4 articles)."
    )
    assert topics.endswith("With at most 4 articles per topic and month these are shapes, not "
                           "statistics: look for runs of months, not single bars.")  # fmt: skip
    assert charts.heatmap_reading(charts.provider_topic_frame(seed_wh)) == (
        "VentureBeat leans on AI and Machine Learning. The Guardian leans on Privacy and AI. "
        "The Verge leans on AI and Machine Learning. AI is covered by 10 of 11 providers, "
        "Quantum Computing by 3: a niche. Rows are not normalised, so read the pattern within a "
        "row."
    )
    citations = charts.citation_reading(
        charts.citation_summary(seed_wh), charts.citation_frame(seed_wh)
    )
    assert citations == (
        "Reuters is the hub: both the most cited provider and the one citing the widest range "
        "of others. 4.7 % of related entries point back to their own provider, so related "
        "reading mostly crosses providers. 39 % of related entries are articles we have loaded; "
        "the rest are a coverage gap. CNBC, Engadget, Financial Times, IEEE Spectrum and MIT "
        "Technology Review are only ever cited (hollow dots): readers are sent there but the "
        "corpus does not cover them, the first candidates for new sources."
    )
    assert charts.image_reading(charts.image_frame(seed_wh)) == (
        "The best and the least illustrated providers are 50 points apart (Reuters 100 %, "
        "Al Jazeera English 50 %): illustration is a house style, not chance."
    )


def test_notebook_prose_names_no_provider_or_topic() -> None:
    """What the notebook says about the data is computed: its Markdown names no provider or
    topic of the sample corpus (each would be a claim hard-coded to it)."""
    import nbformat

    notebook = nbformat.read(REPO / "notebooks" / "analysis.ipynb", as_version=4)
    prose = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    named = ["Reuters", "VentureBeat", "The Guardian", "CNBC", "Dhaka Tribune", "AI is",
             "Machine Learning", "Privacy", "Semiconductors", "Computer Vision"]  # fmt: skip
    assert [name for name in named if name in prose] == []
    readings = [
        c.source for c in notebook.cells if c.cell_type == "code" and "_reading(" in c.source
    ]
    assert readings == [
        "charts.quality_reading(quality)", "charts.topic_reading(topics)",
        "charts.heatmap_reading(heatmap)", "charts.citation_reading(summary, citations)",
        "charts.image_reading(images)",
    ]  # fmt: skip


def test_heatmap_reading_when_every_provider_covers_every_topic() -> None:
    frame = pd.DataFrame({"x": [5, 1], "y": [2, 3]}, index=["A", "B"])
    assert charts.heatmap_reading(frame) == (
        "A leans on x and y. B leans on y and x. Every topic is covered by 2 of 2 providers. "
        "Rows are not normalised, so read the pattern within a row."
    )
