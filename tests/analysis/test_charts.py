"""The charts' pure parts: percentages as people read them, trend axes cut to the data's range,
and a citation network that stays readable however many providers there are."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.text import Annotation

from flows.analysis import charts


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
