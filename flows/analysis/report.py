"""``newsflow report``: one self-contained HTML page of the key models, for people who would
rather look than read.

The page has no external references: CSS is inline, the charts are PNG images embedded as
``data:`` URIs, there is no JavaScript, so it can be mailed or opened offline. It reads the
warehouse through one read-only ``Warehouse`` (one consistent run) and
draws the same charts as ``notebooks/analysis.ipynb`` (:mod:`flows.analysis.charts`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows import __version__
from flows.analysis import charts
from flows.analysis.formats import cell_text
from flows.analysis.warehouse import Warehouse

REPORT_FILE = "report.html"
CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1d2330; max-width: 980px; margin: 2em auto;
       padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d7dbe3; padding-bottom: 0.2em;
     margin-top: 2em; }
.meta { color: #5b6475; font-size: 13px; }
.figures { display: flex; flex-wrap: wrap; gap: 0.8em; list-style: none; padding: 0; }
.figures li { background: #f3f5f9; border-radius: 6px; padding: 0.5em 0.9em; }
.figures b { display: block; font-size: 22px; }
ul.findings li { margin: 0.2em 0; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #5b6475; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 0.8em 0; }
th, td { border-bottom: 1px solid #e3e6ec; padding: 0.25em 0.7em; text-align: left; }
th { background: #f3f5f9; } caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f5f9; padding: 0 0.25em; border-radius: 3px; }
"""


@dataclass
class Section:
    """One part of the report: findings, an optional chart and tables."""

    key: str
    title: str
    intro: str
    findings: list[str] = field(default_factory=list)
    chart: bytes | None = None
    chart_alt: str = ""
    tables: list[tuple[str, list[str], list[tuple[Any, ...]]]] = field(default_factory=list)


@dataclass
class Report:
    path: Path
    sections: list[Section]
    bytes: int


def build_sections(wh: Warehouse) -> list[tuple[str, Callable[[], Section]]]:
    """The sections in order, each built when called (so a caller can show progress)."""
    return [
        ("quality", lambda: _quality(wh)),
        ("topics", lambda: _topics(wh)),
        ("heatmap", lambda: _heatmap(wh)),
        ("citations", lambda: _citations(wh)),
        ("images", lambda: _images(wh)),
    ]


def write_report(
    wh: Warehouse, out: Path, on_section: Callable[[str], None] | None = None
) -> Report:
    """Write ``out/report.html`` (atomically) and return what it holds."""
    sections = []
    for key, build in build_sections(wh):
        if on_section is not None:
            on_section(key)
        sections.append(build())
    page = render_html(wh, sections)
    out.mkdir(parents=True, exist_ok=True)
    target = out / REPORT_FILE
    partial = out / f".{REPORT_FILE}.partial-{os.getpid()}"
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)
    return Report(target, sections, len(page.encode("utf-8")))


def render_html(wh: Warehouse, sections: Sequence[Section]) -> str:
    run = wh.last_run()
    when = _when(run["finished_at"]) if run else "never"
    run_text = f"run <code>{_e(run['run_id'])}</code> finished {when}" if run else "no run yet"
    now = _when(dt.datetime.now(dt.UTC))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>newsflow report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>newsflow report</h1>",
        f'<p class="meta">Warehouse <code>{_e(str(wh.path))}</code>; {run_text}. '
        f"Generated {now} by newsflow {__version__}. Times are UTC.</p>",
        _overview(wh),
        '<nav><p class="meta">'
        + " · ".join(f'<a href="#{s.key}">{_e(s.title)}</a>' for s in sections)
        + "</p></nav>",
    ]
    parts += [_section_html(section) for section in sections]
    parts.append(
        '<p class="meta">Every number comes from a model in <code>sql/models</code>; '
        'query it yourself with <code>newsflow query "select * from quality_by_provider"</code>'
        ", or open <code>notebooks/analysis.ipynb</code>.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


# -- sections ----------------------------------------------------------------------------------


def _quality(wh: Warehouse) -> Section:
    frame = charts.quality_frame(wh)
    return Section(
        "quality", "Quality by provider",
        "Mean quality score (0-100) of each provider's live articles, best first.",
        charts.quality_findings(frame),
        _png(charts.plot_quality(frame)), "Bar chart of mean quality per provider",
        [_table(wh, "quality_by_provider", """
            select provider_name as provider, article_count as articles, mean_quality,
                median_quality, published_share, strftime(first_published_at, '%Y-%m-%d')
                as first_published, strftime(last_published_at, '%Y-%m-%d') as last_published
            from quality_by_provider""")],
    )  # fmt: skip


def _topics(wh: Warehouse) -> Section:
    frame = charts.topic_month_frame(wh)
    return Section(
        "topics", "Topic trends",
        f"Articles per month for the {charts.TOP_TOPICS} biggest topics (weekly detail: the "
        "model topic_trends), then the topic pairs that go together most.",
        charts.topic_findings(frame),
        _png(charts.plot_topic_trends(frame)), "Articles per month for the biggest topics",
        [_table(wh, "topic_pairs (lift above 1, at least 2 articles)", """
            select topic_a, topic_b, pair_article_count as articles_with_both, lift
            from topic_pairs where pair_article_count >= 2 and lift > 1
            order by lift desc, pair_article_count desc, topic_a, topic_b limit 10""")],
    )  # fmt: skip


def _heatmap(wh: Warehouse) -> Section:
    frame = charts.provider_topic_frame(wh)
    return Section(
        "heatmap", "Providers and topics",
        "How many live articles each provider tagged with each topic.",
        charts.heatmap_findings(frame),
        _png(charts.plot_heatmap(frame)), "Heatmap of articles per provider and topic",
    )  # fmt: skip


def _citations(wh: Warehouse) -> Section:
    return Section(
        "citations", "Related-article citations",
        "Articles list related articles; this is who points to whom, between providers.",
        charts.citation_findings(charts.citation_summary(wh)),
        _png(charts.plot_citation_network(charts.citation_frame(wh))),
        "Network of citations between providers",
        [_table(wh, "related_citations (top 10 links)", """
            select citing_provider_name as citing, cited_provider_name as cited,
                citation_count as citations, citing_article_count as citing_articles,
                in_warehouse_count as loaded
            from related_citations where not coalesce(is_self_citation, false) limit 10""")],
    )  # fmt: skip


def _images(wh: Warehouse) -> Section:
    frame = charts.image_frame(wh)
    return Section(
        "images", "Image coverage",
        "How well each provider's articles are illustrated (their own images only).",
        charts.image_findings(frame),
        _png(charts.plot_images(frame)), "Share of articles with an image, and of images cached",
        tables=[_table(wh, "image_coverage", """
            select provider_name as provider, article_count as articles, image_share,
                images_per_article, cached_share, median_width, median_height
            from image_coverage
            order by image_share desc nulls last, article_count desc, provider_name""")],
    )  # fmt: skip


# -- html --------------------------------------------------------------------------------------


def _overview(wh: Warehouse) -> str:
    [row] = wh.conn.execute(
        "select (select count(*) from stg_article), "
        "(select count(distinct provider_id) from stg_article), "
        "(select count(distinct topic_id) from stg_article_topic), "
        "(select count(*) from related inner join stg_article using (article_id)), "
        "(select strftime(min(published_at), '%Y-%m-%d') from stg_article), "
        "(select strftime(max(published_at), '%Y-%m-%d') from stg_article)"
    ).fetchall()
    articles, providers, topics, related, first, last = row
    figures = [
        ("live articles", articles), ("providers", providers), ("topics", topics),
        ("related entries", related), ("published", f"{first or '-'} to {last or '-'}"),
    ]  # fmt: skip
    items = "".join(
        f"<li><b>{_e(f'{value:,}' if isinstance(value, int) else str(value))}</b>{_e(label)}</li>"
        for label, value in figures
    )
    return f'<ul class="figures">{items}</ul>'


def _section_html(section: Section) -> str:
    out = [f'<section id="{section.key}">', f"<h2>{_e(section.title)}</h2>"]
    out.append(f"<p>{_e(section.intro)}</p>")
    if section.findings:
        out.append('<ul class="findings">')
        out += [f"<li>{_e(text)}</li>" for text in section.findings]
        out.append("</ul>")
    if section.chart is not None:
        data = base64.b64encode(section.chart).decode("ascii")
        out.append(
            f'<figure><img alt="{_e(section.chart_alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(section.chart_alt)}</figcaption></figure>"
        )
    for caption, columns, rows in section.tables:
        out.append(_table_html(caption, columns, rows))
    out.append("</section>")
    return "\n".join(out)


# How a number column reads: shares as percentages, pixel sizes as integers, ratios and means
# to a sensible precision (the models keep full precision; only the page rounds).
NUMBER_FORMATS: dict[str, Callable[[Any], str]] = {
    "median_width": lambda v: f"{v:.0f}",
    "median_height": lambda v: f"{v:.0f}",
    "mean_quality": lambda v: f"{v:.1f}",
    "median_quality": lambda v: f"{v:.1f}",
    "images_per_article": lambda v: f"{v:.2f}",
    "lift": lambda v: f"{v:.2f}",
}


def number_text(column: str, value: Any) -> str:
    """A number cell of ``column`` as the report shows it."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return cell_text(value, "")
    if column.endswith("_share"):
        return charts.percent(value)
    formatter = NUMBER_FORMATS.get(column)
    if formatter is not None:
        return formatter(value)
    return cell_text(round(value, 4) if isinstance(value, float) else value, "")


def _table_html(caption: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(number_text(c, v))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{_e(cell_text(v, ''))}</td>"
            for c, v in zip(columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(columns)}">(no rows)</td></tr>')
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _table(wh: Warehouse, caption: str, sql: str) -> tuple[str, list[str], list[tuple[Any, ...]]]:
    result = wh.query(sql)
    return caption, result.columns, result.rows


def _png(fig: Any) -> bytes:
    return charts.figure_png(fig)


def _when(moment: Any) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
