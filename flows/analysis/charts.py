"""The story of a warehouse in five charts, shared by ``notebooks/analysis.ipynb`` and
``newsflow report``: data frames from the models, matplotlib figures, and one-sentence findings.

Each chart has a ``*_frame(wh)`` function (pandas, from a ``Warehouse``), a
``plot_*(frame)`` function returning a ``matplotlib.figure.Figure`` (the object API, no pyplot
state, so it renders headless with Agg), and the report states its findings from the same frames.
matplotlib is imported only when a chart is drawn.
"""

from __future__ import annotations

import math
from typing import Any

from flows.analysis.warehouse import Warehouse

TOP_TOPICS = 5
TOP_LINKS = 30  # the citation network draws the strongest links only; the rest are summarized
SPARSE_MONTH = 0.02  # trend charts drop end months with fewer articles than this of the busiest
PALETTE = ["#1b6ca8", "#e07a1f", "#2a9d5c", "#c0392b", "#7d5ba6", "#8c6d46", "#d35fb7"]


# -- frames ------------------------------------------------------------------------------------


def quality_frame(wh: Warehouse) -> Any:
    """``quality_by_provider``: one row per provider, best mean quality first."""
    return wh.df("quality_by_provider")


def topic_month_frame(wh: Warehouse, top: int = TOP_TOPICS) -> Any:
    """Articles per UTC month (rows) for the ``top`` topics with most articles (columns).

    The monthly view of ``topic_trends`` (which is weekly), from the same staging models:
    live, dated articles only. Months without an article on a topic are 0.
    """
    frame = wh.sql(
        """
        with dated as (
            select stg_article_topic.topic_name, stg_article.published_month
            from stg_article_topic
            inner join stg_article on stg_article_topic.article_id = stg_article.article_id
            where stg_article.published_month is not null
        ),
        top_topics as (
            select topic_name, count(*) as articles from dated
            group by topic_name order by articles desc, topic_name limit ?
        )
        select dated.published_month as month_start, dated.topic_name, count(*) as article_count
        from dated
        inner join top_topics on dated.topic_name = top_topics.topic_name
        group by all
        """,
        [top],
    )
    if frame.empty:
        return frame
    import pandas as pd

    frame["month_start"] = pd.to_datetime(frame["month_start"])
    table = frame.pivot_table(
        index="month_start", columns="topic_name", values="article_count", aggfunc="sum"
    )
    months = pd.date_range(table.index.min(), table.index.max(), freq="MS")
    table = table.reindex(months, fill_value=0).fillna(0).astype(int)
    table = table[sorted(table.columns, key=lambda name: (-int(table[name].sum()), name))]
    table.index.name, table.columns.name = "month_start", None
    return cut_to_range(table)


def cut_to_range(table: Any, sparse: float = SPARSE_MONTH) -> Any:
    """``table`` (months x series) without its sparse ends: leading and trailing months whose
    total is below ``sparse`` of the busiest month's (a few late re-crawls must not stretch the
    axis over a year of empty months). ``table.attrs["cut"]`` says what was left out:
    ``{"before": (months, articles), "after": (months, articles)}``."""
    totals = table.sum(axis=1)
    floor = sparse * int(totals.max()) if len(totals) else 0
    dense = [i for i, total in enumerate(totals) if total >= floor and total > 0]
    first, last = (dense[0], dense[-1]) if dense else (0, len(totals) - 1)
    cut = {
        "before": (first, int(totals.iloc[:first].sum())),
        "after": (len(totals) - 1 - last, int(totals.iloc[last + 1 :].sum())),
    }
    kept = table.iloc[first : last + 1].copy()
    kept.attrs["cut"] = cut
    return kept


def provider_topic_frame(wh: Warehouse) -> Any:
    """Live articles per provider (rows, most articles first) and topic (columns, likewise)."""
    frame = wh.sql(
        """
        select provider.name as provider_name, stg_article_topic.topic_name, count(*) as articles
        from stg_article_topic
        inner join provider on stg_article_topic.provider_id = provider.provider_id
        group by all
        """
    )
    if frame.empty:
        return frame
    table = frame.pivot_table(
        index="provider_name", columns="topic_name", values="articles", aggfunc="sum"
    )
    table = table.fillna(0).astype(int)
    rows = sorted(table.index, key=lambda name: (-int(table.loc[name].sum()), name))
    columns = sorted(table.columns, key=lambda name: (-int(table[name].sum()), name))
    table = table.loc[rows, columns]
    table.index.name, table.columns.name = "provider_name", None
    return table


def citation_frame(wh: Warehouse) -> Any:
    """``related_citations`` between named providers: one row per citing and cited provider."""
    return wh.sql(
        "select * from related_citations "
        "where citing_provider_name is not null and cited_provider_name is not null"
    )


def image_frame(wh: Warehouse) -> Any:
    """``image_coverage``: one row per provider with articles, best illustrated first."""
    return wh.sql(
        "select * from image_coverage "
        "order by image_share desc nulls last, article_count desc, provider_name"
    )


def citation_summary(wh: Warehouse) -> dict[str, Any]:
    """The related-citation network in numbers (providers, links, self-citations, coverage)."""
    [row] = wh.conn.execute(
        """
        with named as (
            select * from related_citations
            where citing_provider_name is not null and cited_provider_name is not null
        ),
        nodes as (
            select citing_provider_name as name from named
            union select cited_provider_name from named
        ),
        cited as (
            select cited_provider_name, sum(citation_count) as times from named
            where not is_self_citation group by all order by times desc, cited_provider_name
            limit 1
        ),
        citing as (
            select citing_provider_name, count(*) as providers from named
            where not is_self_citation group by all order by providers desc, citing_provider_name
            limit 1
        )
        select
            (select count(*) from nodes),
            (select count(*) from named where not is_self_citation),
            (select coalesce(sum(citation_count), 0) from related_citations),
            (select coalesce(sum(citation_count), 0) from named where is_self_citation),
            (select coalesce(sum(in_warehouse_count), 0) from related_citations),
            (select coalesce(sum(citation_count), 0) from related_citations
                where citing_provider_name is null or cited_provider_name is null),
            (select cited_provider_name from cited), (select times from cited),
            (select citing_provider_name from citing), (select providers from citing)
        """
    ).fetchall()
    keys = (
        "providers", "links", "citations", "self_citations", "in_warehouse", "unnamed",
        "most_cited", "most_cited_times", "widest_citer", "widest_citer_providers",
    )  # fmt: skip
    summary = dict(zip(keys, row, strict=True))
    for key in ("citations", "self_citations", "in_warehouse", "unnamed"):
        summary[key] = int(summary[key])
    citations = summary["citations"]
    summary["in_warehouse_share"] = summary["in_warehouse"] / citations if citations else 0
    [(between, drawn)] = wh.conn.execute(
        """
        with links as (
            select citation_count from related_citations
            where citing_provider_name is not null and cited_provider_name is not null
                and not is_self_citation
        )
        select coalesce(sum(citation_count), 0),
            (select coalesce(sum(citation_count), 0) from
                (select citation_count from links order by citation_count desc limit ?))
        from links
        """,
        [TOP_LINKS],
    ).fetchall()
    summary["drawn_share"] = int(drawn) / int(between) if between else 0
    return summary


# -- findings: one sentence each, stated from the frames ----------------------------------------


def quality_findings(frame: Any) -> list[str]:
    rated = frame[frame["mean_quality"].notna()]
    if rated.empty:
        return ["No provider has rated articles yet."]
    best, worst = rated.iloc[0], rated.iloc[-1]
    found = [
        f"{best.provider_name} has the highest mean quality ({best.mean_quality:.2f} over "
        f"{best.article_count:,} articles), {worst.provider_name} the lowest "
        f"({worst.mean_quality:.2f} over {worst.article_count:,}).",
    ]
    few = rated[rated["article_count"] < 3]["provider_name"].tolist()
    if few:
        found.append(f"Fewer than 3 articles, so read their mean with care: {', '.join(few)}.")
    return found


def topic_findings(frame: Any) -> list[str]:
    if frame.empty:
        return ["No dated article has a topic yet."]
    biggest = frame.columns[0]
    busiest = frame[biggest].idxmax()
    found = [
        f"{biggest} is the biggest topic ({int(frame[biggest].sum()):,} articles); its busiest "
        f"month was {str(busiest)[:7]} ({int(frame[biggest].max()):,} articles).",
        f"The chart covers {len(frame.index)} months, "
        f"{str(frame.index[0])[:7]} to {str(frame.index[-1])[:7]}.",
    ]
    cut = frame.attrs.get("cut", {})
    for side, word in (("before", "before"), ("after", "after")):
        months, articles = cut.get(side, (0, 0))
        if months:
            edge = frame.index[0] if side == "before" else frame.index[-1]
            found.append(
                f"{articles:,} topic tags in {months} sparse months {word} {str(edge)[:7]} are "
                f"left out (each month under {SPARSE_MONTH * 100:g} % of the busiest)."
            )
    return found


def heatmap_findings(frame: Any) -> list[str]:
    if frame.empty:
        return ["No article has both a provider and a topic yet."]
    provider = frame.index[0]
    topic = frame.loc[provider].idxmax()
    spread = (frame > 0).sum()
    widest = sorted(spread.index, key=lambda name: (-int(spread[name]), name))[0]
    return [
        f"{provider} has the most topic tags ({int(frame.loc[provider].sum()):,}); its most "
        f"frequent topic is {topic} ({int(frame.loc[provider, topic]):,} articles).",
        f"{widest} is covered by the most providers ({int(spread[widest])} of {len(frame.index)}).",
    ]


def image_findings(frame: Any) -> list[str]:
    if frame.empty:
        return ["No provider has articles yet."]
    articles = int(frame["article_count"].sum())
    illustrated = int(frame["articles_with_images"].sum())
    images = int(frame["image_count"].sum())
    cached = int(frame["cached_image_count"].sum())
    best, worst = frame.iloc[0], frame.iloc[-1]
    found = [
        f"{percent(illustrated / articles)} of live articles ({illustrated:,} of {articles:,}) "
        f"have an image of their own, {images / articles:.2f} images per article on average.",
        f"{best.provider_name} is the best illustrated ({percent(best.image_share)} of "
        f"{best.article_count:,} articles), {worst.provider_name} the least "
        f"({percent(worst.image_share)} of {worst.article_count:,}).",
    ]
    if images:
        found.append(
            f"{percent(cached / images)} of the images ({cached:,} of {images:,}) are cached."
        )
    sized = frame[frame["median_width"].notna()]
    if not sized.empty:
        low, high = int(sized["median_width"].min()), int(sized["median_width"].max())
        found.append(
            f"The median image is {low} px wide at every provider."
            if low == high
            else f"Median image widths run from {low} to {high} px across providers."
        )
    return found


def citation_findings(summary: dict[str, Any]) -> list[str]:
    if not summary["citations"]:
        return ["No article lists related entries yet."]
    found = [
        f"{summary['citations']:,} related entries link {summary['providers']} providers through "
        f"{summary['links']:,} provider-to-provider links; {summary['self_citations']:,} entries "
        "point back to their own provider.",
        f"{summary['in_warehouse']:,} of the entries ({percent(summary['in_warehouse_share'])}) "
        "are articles loaded in the warehouse; the rest are a coverage gap.",
    ]
    if summary["most_cited"]:
        found.append(
            f"{summary['most_cited']} is cited most by other providers "
            f"({summary['most_cited_times']:,} times); {summary['widest_citer']} cites the widest "
            f"range ({summary['widest_citer_providers']} other providers)."
        )
    if summary["unnamed"]:
        found.append(f"{summary['unnamed']:,} entries name no provider and are not drawn.")
    if summary["links"] > TOP_LINKS:
        found.append(
            f"The chart draws the {TOP_LINKS} strongest of the {summary['links']:,} links "
            f"({percent(summary['drawn_share'])} of the citations between providers); the "
            "table lists the strongest, the model related_citations holds them all."
        )
    return found


def percent(share: float | None) -> str:
    """A share (0..1) as a percentage people read: 73 %, 4.5 % below 10 %, 0 % only for 0."""
    if share is None or share != share:  # NaN
        return "-"
    value = 100 * float(share)
    if value == 0 or 9.95 <= value < 99.5 or value == 100:
        return f"{math.floor(value + 0.5)} %"  # half up: 87.5 -> 88, 12.5 -> 13
    return f"{math.floor(10 * value + 0.5) / 10:.1f} %" if value >= 0.05 else "< 0.1 %"


# -- readings: a paragraph of prose per chart, for the notebook, computed from the frames -------


class Reading(str):
    """Prose a notebook shows as Markdown (``_repr_markdown_``) and prints as text."""

    def _repr_markdown_(self) -> str:
        return f"**Reading it.** {self}"


def _names(names: list[str], most: int = 6) -> str:
    shown = names[:most]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return (
        ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else "".join(shown)
    ) + more


def quality_reading(frame: Any) -> Reading:
    rated = frame[frame["mean_quality"].notna()]
    if rated.empty:
        return Reading("No provider has rated articles yet, so there is no ranking to read.")
    best, worst = rated.iloc[0], rated.iloc[-1]
    spread = float(best.mean_quality) - float(worst.mean_quality)
    parts = [
        f"Across {len(rated)} providers the means span {spread:.1f} points: "
        f"{best.provider_name} leads ({best.mean_quality:.1f} over {best.article_count:,} "
        f"articles), {worst.provider_name} trails ({worst.mean_quality:.1f})"
        + (": no provider stands out." if spread < 5 else ".")
    ]
    few = rated[rated["article_count"] < 3]["provider_name"].tolist()
    parts.append(
        f"{_names(few)} rest on fewer than three articles: anecdotes rather than a ranking."
        if few
        else "Every provider has at least three articles, so the means are worth comparing."
    )
    gap = (rated["mean_quality"] - rated["median_quality"]).abs()
    widest = rated.loc[gap.idxmax()]
    parts.append(
        f"Medians track means within {gap.max():.1f} points, so no single outlier drives a score."
        if gap.max() < 5
        else f"{widest.provider_name}'s median is {gap.max():.1f} points from its mean: a few "
        "outlying articles move it."
    )
    low = rated.sort_values(["published_share", "provider_name"]).iloc[0]
    parts.append(
        f"Watch published_share too: {low.provider_name} has the lowest "
        f"({percent(low.published_share)} of its articles flagged as published)."
    )
    return Reading(" ".join(parts))


def topic_reading(frame: Any) -> Reading:
    if frame.empty:
        return Reading("No dated article has a topic yet.")
    months = len(frame.index)
    parts = []
    for topic in frame.columns:
        present = int((frame[topic] > 0).sum())
        peak = frame[topic].idxmax()
        if present >= 0.8 * months and frame[topic].max() <= 3 * max(frame[topic].mean(), 1):
            parts.append(f"{topic} appears in {present} of {months} months: a steady theme.")
        else:
            parts.append(
                f"{topic} appears in {present} of {months} months and peaks in "
                f"{str(peak)[:7]} ({int(frame[topic].max())} articles)."
            )
    top = int(frame.to_numpy().max())
    parts.append(
        f"With at most {top} articles per topic and month these are shapes, not statistics: "
        "look for runs of months, not single bars."
        if top < 10
        else f"Monthly counts reach {top}, enough to compare months with some confidence."
    )
    return Reading(" ".join(parts))


def heatmap_reading(frame: Any) -> Reading:
    if frame.empty:
        return Reading("No article has both a provider and a topic yet.")
    parts = []
    for provider in frame.index[:3]:
        row = frame.loc[provider]
        ranked = sorted(row.index, key=lambda t: (-int(row[t]), t))[:2]
        parts.append(f"{provider} leans on {' and '.join(ranked)}.")
    spread = (frame > 0).sum()
    ranked = sorted(spread.index, key=lambda t: (-int(spread[t]), t))
    widest, narrowest = ranked[0], ranked[-1]
    if spread[widest] == spread[narrowest]:
        parts.append(
            f"Every topic is covered by {int(spread[widest])} of {len(frame.index)} providers."
        )
    else:
        parts.append(
            f"{widest} is covered by {int(spread[widest])} of {len(frame.index)} providers, "
            f"{narrowest} by {int(spread[narrowest])}"
            + (": a niche." if spread[narrowest] <= len(frame.index) / 3 else ".")
        )
    parts.append("Rows are not normalised, so read the pattern within a row.")
    return Reading(" ".join(parts))


def citation_reading(summary: dict[str, Any], frame: Any) -> Reading:
    if not summary["citations"]:
        return Reading("No article lists related entries yet.")
    parts = []
    hub, citer = summary["most_cited"], summary["widest_citer"]
    if hub and hub == citer:
        parts.append(
            f"{hub} is the hub: both the most cited provider and the one citing the widest range "
            "of others."
        )
    elif hub:
        parts.append(f"{hub} is the most cited provider; {citer} cites the widest range of others.")
    self_share = summary["self_citations"] / summary["citations"]
    parts.append(
        f"{percent(self_share)} of related entries point back to their own provider, so related "
        "reading mostly crosses providers."
        if self_share < 0.2
        else f"{percent(self_share)} of related entries point back to their own provider."
    )
    parts.append(
        f"{percent(summary['in_warehouse_share'])} of related entries are articles we have "
        "loaded; the rest are a coverage gap."
    )
    if not frame.empty:
        citing = set(frame["citing_provider_name"])
        only_cited = sorted(set(frame["cited_provider_name"]) - citing)
        if only_cited:
            parts.append(
                f"{_names(only_cited)} are only ever cited (hollow dots): readers are sent there "
                "but the corpus does not cover them, the first candidates for new sources."
            )
    return Reading(" ".join(parts))


def image_reading(frame: Any) -> Reading:
    if frame.empty:
        return Reading("No provider has articles yet.")
    rated = frame[frame["image_share"].notna()]
    best, worst = rated.iloc[0], rated.iloc[-1]
    gap = 100 * (float(best.image_share) - float(worst.image_share))
    parts = [
        f"The best and the least illustrated providers are {gap:.0f} points apart "
        f"({best.provider_name} {percent(best.image_share)}, {worst.provider_name} "
        f"{percent(worst.image_share)})"
        + (": illustration is a house style, not chance." if gap >= 20 else ": close together.")
    ]
    uncached = frame[frame["cached_share"].notna() & (frame["cached_share"] < 0.5)]
    if not uncached.empty:
        parts.append(
            f"Fewer than half the images are cached for {_names(list(uncached.provider_name))}."
        )
    return Reading(" ".join(parts))


# -- figures -----------------------------------------------------------------------------------


def plot_quality(frame: Any) -> Any:
    """Horizontal bars of mean quality per provider, labelled with the article count."""
    fig, ax = _figure(7.5, 0.42 * max(len(frame), 3) + 1.2)
    if frame.empty:
        return _empty(fig, ax, "no provider has articles")
    ordered = frame.sort_values(["mean_quality", "provider_name"], ascending=[True, False])
    bars = ax.barh(ordered["provider_name"], ordered["mean_quality"], color=PALETTE[0])
    for bar, quality, articles in zip(
        bars, ordered["mean_quality"], ordered["article_count"], strict=True
    ):
        ax.text(
            bar.get_width() + 1, bar.get_y() + bar.get_height() / 2,
            f"{quality:.1f}  (n={articles:,})", va="center", fontsize=8,
        )  # fmt: skip
    ax.set_xlim(0, 110)
    ax.margins(y=0.01)  # no empty band above the first bar and below the last
    ax.set_xlabel("mean quality (0-100); n = articles")
    ax.set_title("Quality by provider")
    _tidy(ax)
    return fig


def plot_topic_trends(frame: Any) -> Any:
    """Small multiples: one strip per topic, articles per month, on shared axes."""
    from matplotlib.figure import Figure

    if frame.empty:
        fig, ax = _figure(8, 3)
        return _empty(fig, ax, "no dated articles with topics")
    fig = Figure(figsize=(8, 0.95 * len(frame.columns) + 1.3), layout="constrained")
    axes = fig.subplots(len(frame.columns), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    months = [str(month)[:7] for month in frame.index]
    top = int(frame.to_numpy().max())
    for i, (ax, topic) in enumerate(zip(axes, frame.columns, strict=True)):
        ax.bar(months, frame[topic], color=PALETTE[i % len(PALETTE)], width=0.7)
        ax.set_ylabel(
            f"{topic}\n({int(frame[topic].sum())})", rotation=0, ha="right", va="center",
            fontsize=8,
        )  # fmt: skip
        ax.set_ylim(0, top + 0.5)
        ax.set_yticks([0, top])
        ax.tick_params(labelsize=7)
        _tidy(ax)
    step = max(1, len(months) // 18)  # about 18 month labels at most, whatever the span
    axes[-1].set_xticks(range(0, len(months), step), months[::step])
    axes[-1].tick_params(axis="x", rotation=45)
    fig.suptitle(
        f"Topic trends: articles per month (UTC) for the {len(frame.columns)} biggest topics",
        fontsize=10,
    )
    return fig


def plot_heatmap(frame: Any) -> Any:
    """Providers x topics, each cell the number of articles, darker = more."""
    fig, ax = _figure(0.55 * max(len(frame.columns), 4) + 3, 0.4 * max(len(frame), 3) + 2)
    if frame.empty:
        return _empty(fig, ax, "no articles with a provider and a topic")
    image = ax.imshow(frame.to_numpy(), cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(frame.columns)), frame.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(frame.index)), frame.index, fontsize=8)
    top = frame.to_numpy().max()
    for (row, column), value in _cells(frame):
        if value:
            color = "white" if value > top / 2 else "black"
            ax.text(column, row, str(value), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, label="articles", shrink=0.8)
    ax.set_title("Which providers write about which topics")
    return fig


def plot_citation_network(frame: Any, top: int = TOP_LINKS) -> Any:
    """Providers on a circle, an arrow from citing to cited provider (wider = more citations)
    for the ``top`` strongest links (every provider stays on the circle, so 20+ providers do
    not become a hairball); node size = times cited by other providers, over all links;
    hollow = a provider that only is cited."""
    import math

    fig, ax = _figure(7.5, 7.5)
    links = frame[~frame["is_self_citation"]] if not frame.empty else frame
    if links.empty:
        return _empty(fig, ax, "no related entries between named providers")
    cited = links.groupby("cited_provider_name")["citation_count"].sum()
    citing = set(links["citing_provider_name"])
    names = sorted(set(cited.index) | citing, key=lambda n: (-int(cited.get(n, 0)), n))
    total = len(links)
    links = links.sort_values(
        ["citation_count", "citing_provider_name", "cited_provider_name"],
        ascending=[False, True, True],
    ).head(top)
    position = {
        name: (math.cos(2 * math.pi * i / len(names)), math.sin(2 * math.pi * i / len(names)))
        for i, name in enumerate(names)
    }
    widest = links["citation_count"].max()
    for link in links.itertuples():
        ax.annotate(
            "", xy=position[link.cited_provider_name], xytext=position[link.citing_provider_name],
            arrowprops={
                "arrowstyle": "-|>", "color": PALETTE[0], "alpha": 0.35,
                "linewidth": 0.6 + 2.4 * link.citation_count / widest,
                "shrinkA": 8, "shrinkB": 8, "connectionstyle": "arc3,rad=0.12",
            },
        )  # fmt: skip
    most = max(int(cited.max()), 1)
    for name in names:
        x, y = position[name]
        size = 60 + 500 * int(cited.get(name, 0)) / most
        loaded = name in citing
        ax.scatter(
            [x], [y], s=size, zorder=3, edgecolors=PALETTE[1],
            color=PALETTE[1] if loaded else "white", linewidths=1.5,
        )  # fmt: skip
        ax.text(
            1.16 * x, 1.16 * y, name, fontsize=8, ha="left" if x > 0.01 else "right",
            va="center",
        )  # fmt: skip
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-1.4, 1.4)
    ax.set_axis_off()
    drawn = f"the {len(links)} strongest of {total:,} links" if total > len(links) else "every link"
    ax.set_title(
        f"Related-article citations between providers ({drawn})\n"
        "arrow: citing -> cited, wider = more; dot size: times cited; hollow: only ever cited",
        fontsize=10,
    )
    return fig


def plot_images(frame: Any) -> Any:
    """Per provider: the share of articles with an image of their own, and the share of their
    images cached, as two bar panels sharing the provider axis (best illustrated on top)."""
    from matplotlib.figure import Figure

    if frame.empty:
        fig, ax = _figure(8, 3)
        return _empty(fig, ax, "no provider has articles")
    ordered = frame.iloc[::-1]
    fig = Figure(figsize=(9, 0.27 * max(len(frame), 3) + 1.3), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    for ax, column, color, label in (
        (left, "image_share", PALETTE[0], "articles with an image of their own"),
        (right, "cached_share", PALETTE[2], "their images that are cached"),
    ):
        values = [0.0 if v != v else 100 * float(v) for v in ordered[column]]  # NaN -> 0
        bars = ax.barh(ordered["provider_name"], values, color=color)
        for bar, share in zip(bars, ordered[column], strict=True):
            ax.text(
                bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, percent(share),
                va="center", fontsize=7,
            )  # fmt: skip
        ax.set_xlim(0, 115)
        ax.set_xticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"])
        ax.set_xlabel(label, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.margins(y=0.01)
        _tidy(ax)
    fig.suptitle("Image coverage by provider (their articles' own images)", fontsize=10)
    return fig


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (Agg, no display needed)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# -- helpers -----------------------------------------------------------------------------------


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _empty(fig: Any, ax: Any, message: str) -> Any:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _tidy(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _cells(frame: Any) -> list[tuple[tuple[int, int], int]]:
    values = frame.to_numpy()
    return [
        ((row, column), int(values[row, column]))
        for row in range(values.shape[0])
        for column in range(values.shape[1])
    ]
