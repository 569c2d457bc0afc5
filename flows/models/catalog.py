"""The catalog: every table and model with its grain, description, columns, lineage and tests.

Types come from DuckDB itself: the warehouse DDL and every model are built in an in-memory
database, so the catalog describes what the SQL in the repository produces, needs no warehouse
file, and notices when a declared column no longer exists. Descriptions come from the YAML
declarations (``sql/**/*.yml``) and, for models, from the header of their SQL file.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from flows import __version__
from flows.db import ensure_schema
from flows.models import lineage
from flows.models.build import Model, discover_models, run_models
from flows.models.datatests import (
    DataTest,
    Relation,
    collect_tests,
    headline,
    load_declarations,
)
from flows.paths import shown
from flows.text import markdown_table


@dataclass
class Column:
    name: str
    type: str
    description: str
    tests: list[str] = field(default_factory=list)


@dataclass
class Entry:
    name: str
    group: str  # "tables", "etl", or the model's folder under sql/models ("staging", "marts")
    kind: str  # "table", "view" or "table (model)"
    description: str
    grain: str
    path: str
    columns: list[Column] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)


@dataclass
class Catalog:
    entries: list[Entry]
    problems: list[str]
    test_count: int = 0
    data_tests: list[DataTest] = field(default_factory=list)
    root: Path | None = None  # the repository folder paths are shown relative to


def compile_catalog(sql_dir: Path) -> Catalog:
    """Build the DDL and every model in memory, then describe them."""
    conn = duckdb.connect()
    try:
        ensure_schema(conn, sql_dir)
        built = run_models(conn, sql_dir / "models")
        catalog = build_catalog(conn, sql_dir)
        catalog.problems += [
            f"model {name} does not build: {e}" for name, e in built.failed.items()
        ]
        return catalog
    finally:
        conn.close()


def _columns(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = conn.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema in ('main', 'etl') order by table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        name = table if schema == "main" else f"{schema}.{table}"
        found.setdefault(name, []).append((column, data_type))
    return found


def build_catalog(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> Catalog:
    """Describe every relation of ``conn`` and every declared one; list what does not match."""
    declared = load_declarations(sql_dir)
    models = discover_models(conn, sql_dir / "models")
    tests = collect_tests(conn, sql_dir)
    actual = _columns(conn)
    catalog = Catalog([], [], len(tests), tests, sql_dir.parent)
    for name in sorted(set(actual) | set(declared), key=lambda n: _sort_key(n, declared)):
        relation = declared.get(name)
        if relation is None:
            catalog.problems.append(f"{name}: not declared in any {sql_dir.name}/**/*.yml")
            relation = Relation(name, "table", "", "", {}, None)
        entry = _entry(relation, models, sql_dir)
        entry.columns, missing = _describe_columns(relation, actual.get(name, []), tests)
        entry.downstream = sorted(m.name for m in models.values() if name in m.depends_on)
        entry.tests = [
            _test_label(t)
            for t in tests
            if t.relation == name or (t.kind == "singular" and name in t.reads)
        ]
        catalog.entries.append(entry)
        if name in declared:
            catalog.problems += _problems(relation, entry, missing, exists=name in actual)
    return catalog


def _problems(relation: Relation, entry: Entry, missing: list[str], exists: bool) -> list[str]:
    """What makes the entry of a declared relation wrong or incomplete."""
    name, where = relation.name, relation.declared_in or relation.path
    if not exists:
        return [f"{where}: {name} is declared but does not exist"]
    problems = [f"{where}: {name}.{column} is declared but no longer exists" for column in missing]
    if relation.kind == "model" and not relation.description:
        problems.append(f"{relation.path}: model {name} has no description in its header")
    if not relation.grain:
        problems.append(f"{where}: {name} has no grain (`-- {name}: one row per ...`)")
    columns = {c.name for c in entry.columns}
    problems += [f"{where}: key column {name}.{k} does not exist" for k in relation.key
                 if k not in columns]  # fmt: skip
    problems += [f"{where}: {name}.{c.name} has no description"
                 for c in entry.columns if not c.description]  # fmt: skip
    return problems


def _sort_key(name: str, declared: dict[str, Relation]) -> tuple[int, str, str]:
    relation = declared.get(name)
    if relation is not None and relation.kind == "model" and relation.path is not None:
        return (2, relation.path.parent.name, name)
    return (1 if "." in name else 0, "", name)


def _entry(relation: Relation, models: dict[str, Model], sql_dir: Path) -> Entry:
    root = sql_dir.parent
    model = models.get(relation.name)
    if model is not None:
        group = model.path.parent.relative_to(sql_dir / "models").as_posix()
        kind = "view" if model.materialized == "view" else "table (model)"
        return Entry(
            relation.name, group if group != "." else "models", kind, model.description,
            model.grain, shown(model.path, root), upstream=sorted(model.depends_on),
        )  # fmt: skip
    group = "etl" if "." in relation.name else "tables"
    return Entry(
        relation.name, group, "table", relation.description, relation.grain,
        _ddl_file(relation.name, sql_dir, root),
    )  # fmt: skip


def _describe_columns(
    relation: Relation, actual: list[tuple[str, str]], tests: list[DataTest]
) -> tuple[list[Column], list[str]]:
    columns = []
    for name, data_type in actual:
        rules = [_test_label(t, short=True) for t in tests
                 if t.relation == relation.name and t.columns == (name,)]  # fmt: skip
        columns.append(Column(name, data_type, relation.columns.get(name, ""), rules))
    missing = sorted(set(relation.columns) - {name for name, _ in actual}) if actual else []
    return columns, missing


def _test_label(test: DataTest, short: bool = False) -> str:
    label = test.check if short else test.name
    if short and test.check == "relationships":
        label += " → " + test.rule.rsplit(" ", 1)[-1]
    return label + (" (warn)" if test.severity == "warn" else "")


def _ddl_file(name: str, sql_dir: Path, root: Path) -> str:
    pattern = re.compile(rf"create\s+table\s+if\s+not\s+exists\s+{re.escape(name)}\s*\(", re.I)
    for ddl in sorted((sql_dir / "schema").glob("*.sql")):
        if pattern.search(ddl.read_text(encoding="utf-8")):
            return shown(ddl, root)
    return ""


# -- rendering --------------------------------------------------------------------------------

GROUP_TITLES = {"tables": "Warehouse tables", "etl": "Bookkeeping (etl)"}


def _groups(catalog: Catalog) -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = {}
    for entry in catalog.entries:
        groups.setdefault(entry.group, []).append(entry)
    return groups


def _title(group: str) -> str:
    return GROUP_TITLES.get(group, f"Models: {group}")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def render_markdown(catalog: Catalog) -> str:
    tables = sum(1 for e in catalog.entries if e.group in GROUP_TITLES)
    lines = [
        "# newsflow catalog",
        "",
        f"{tables} tables, {len(catalog.entries) - tables} models, {catalog.test_count} data "
        "tests. Generated by `newsflow docs` from `sql/`; do not edit.",
        "",
    ]
    groups = _groups(catalog)
    for group, entries in groups.items():
        links = ", ".join(f"[`{e.name}`](#{_slug(e.name)})" for e in entries)
        lines.append(f"- {_title(group)}: {links}")
    for group, entries in groups.items():
        lines += ["", f"## {_title(group)}"]
        for e in entries:
            lines += ["", f"### {e.name}", "", f"*{e.kind}* · `{e.path}` · grain: {e.grain}"]
            lines += ["", e.description or "*(no description)*", ""]
            lines.append(f"**Upstream:** {_names_md(e.upstream)} · "
                         f"**Downstream:** {_names_md(e.downstream)}")  # fmt: skip
            lines.append("")
            lines += markdown_table(
                ["column", "type", "description", "tests"],
                [[f"`{c.name}`", c.type, _cell(c.description), ", ".join(c.tests)]
                 for c in e.columns],
            )  # fmt: skip
            if e.tests:
                lines += ["", "Data tests: " + ", ".join(f"`{t}`" for t in e.tests)]
    return "\n".join(lines) + "\n"


def _names_md(names: list[str]) -> str:
    return ", ".join(f"[`{n}`](#{_slug(n)})" for n in names) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;
 background:#f6f7fa}
header{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #d7dbe3;
 padding:.7em 1.5em;display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:center}
header h1{font-size:18px;margin:0}
header .meta{color:#5b6475;font-size:13px}
#q{flex:1 1 18em;max-width:32em;padding:.45em .7em;border:1px solid #b9c0cc;border-radius:6px;
 font:inherit}
.filters label{margin-right:.8em;font-size:13px;white-space:nowrap}
#count{color:#5b6475;font-size:13px}
main{max-width:82em;margin:0 auto;padding:1em 1.5em 3em}
.lineage-box{background:#fff;border:1px solid #d7dbe3;border-radius:8px;padding:.8em;
 overflow-x:auto;margin:1em 0}
.lineage-box h2{margin:.1em 0 .5em;font-size:16px}
.legend span{display:inline-block;margin-right:1em;font-size:12px;color:#5b6475}
.legend i{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.3em;
 vertical-align:-1px;border:1px solid}
svg.lineage a:hover rect{stroke-width:2.5}
h2.group{font-size:16px;margin:1.6em 0 .4em;color:#3a4250}
article.rel{background:#fff;border:1px solid #d7dbe3;border-radius:8px;padding:.7em 1em;
 margin:.7em 0}
article.rel h3{margin:0;font:600 16px ui-monospace,Menlo,Consolas,monospace}
.kind{display:inline-block;font-size:11px;padding:0 .5em;border-radius:9px;background:#eef0f4;
 color:#3a4250;margin-left:.6em;vertical-align:2px;font-family:system-ui,sans-serif}
.sub{color:#5b6475;font-size:13px;margin:.2em 0}
.desc{margin:.4em 0}
table{border-collapse:collapse;width:100%;font-size:13px;margin:.5em 0}
th,td{text-align:left;vertical-align:top;padding:.25em .6em;border-bottom:1px solid #e6e9ef}
th{background:#f3f5f9;font-weight:600}
td:first-child{white-space:nowrap}
td.type{white-space:nowrap;color:#5b6475;font-family:ui-monospace,Menlo,Consolas,monospace}
code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f3f5f9;padding:0 .2em;
 border-radius:3px}
.tests{font-size:12px;color:#3a4250}
.pill{display:inline-block;font-size:11px;padding:0 .45em;border-radius:9px;margin:.1em .2em .1em 0;
 background:#eef0f4}
.pill.pass{background:#e1f3e8;color:#1d6b3d}.pill.warn{background:#fff1d6;color:#8a5a00}
.pill.fail,.pill.error{background:#fbe1e1;color:#9b1c1c}
tr.match td{background:#fff8d6}
.hidden{display:none}
#none{color:#5b6475;font-style:italic}
"""

SCRIPT = """
(function () {
  var q = document.getElementById('q');
  var boxes = document.querySelectorAll('.filters input');
  var rels = document.querySelectorAll('article.rel');
  var count = document.getElementById('count');
  var none = document.getElementById('none');
  function groupsOn() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    return on;
  }
  function apply() {
    var terms = q.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var on = groupsOn();
    var shown = 0;
    rels.forEach(function (rel) {
      var rows = rel.querySelectorAll('tbody tr');
      var head = rel.getAttribute('data-text');
      var visible = on[rel.getAttribute('data-group')] !== false;
      var anyRow = false;
      rows.forEach(function (row) {
        var text = head + ' ' + row.getAttribute('data-text');
        var hit = terms.every(function (t) { return text.indexOf(t) >= 0; });
        var own = terms.length > 0 && terms.every(function (t) {
          return row.getAttribute('data-text').indexOf(t) >= 0; });
        row.classList.toggle('hidden', !hit);
        row.classList.toggle('match', own);
        anyRow = anyRow || hit;
      });
      var headHit = terms.every(function (t) { return head.indexOf(t) >= 0; });
      visible = visible && (headHit || anyRow);
      rel.classList.toggle('hidden', !visible);
      if (visible) { shown += 1; }
    });
    document.querySelectorAll('h2.group').forEach(function (h) {
      var group = h.getAttribute('data-group');
      var any = document.querySelector('article.rel[data-group="' + group + '"]:not(.hidden)');
      h.classList.toggle('hidden', !any);
    });
    document.querySelectorAll('svg.lineage a.node').forEach(function (n) {
      var rel = document.getElementById(n.getAttribute('data-name'));
      n.style.opacity = rel && !rel.classList.contains('hidden') ? '1' : '0.25';
    });
    document.querySelectorAll('svg.lineage path.edge').forEach(function (p) {
      var ends = [p.getAttribute('data-from'), p.getAttribute('data-to')];
      var on = ends.every(function (name) {
        var rel = document.getElementById(name);
        return rel && !rel.classList.contains('hidden');
      });
      p.style.opacity = on ? '1' : '0.15';
    });
    count.textContent = shown + ' of ' + rels.length + ' relations';
    none.classList.toggle('hidden', shown > 0);
  }
  var given = new URLSearchParams(window.location.search).get('q');
  if (given) { q.value = given; }
  q.addEventListener('input', apply);
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  apply();
})();
"""


def render_html(catalog: Catalog, results: TestResults | None = None) -> str:
    """One self-contained page: inline CSS and script, the lineage as inline SVG, no fetches."""
    esc = html.escape
    outcomes = _outcomes(results)
    groups = _groups(catalog)
    tables = sum(1 for e in catalog.entries if e.group in GROUP_TITLES)
    checked = (
        f" Data tests last run {esc(results.checked_at)}: {esc(_headline(results))}."
        if results is not None
        else " No data-test results (no warehouse)."
    )
    filters = "".join(
        f"<label><input type='checkbox' value='{esc(g)}' checked> {esc(_title(g))}</label>"
        for g in groups
    )
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>newsflow catalog</title><style>{CSS}</style></head><body>",
        "<header><h1>newsflow catalog</h1>",
        "<input id='q' type='search' placeholder='Search relations, columns, descriptions, tests' "
        "aria-label='search' autofocus>",
        f"<span class='filters'>{filters}</span><span id='count'></span></header>",
        "<main>",
        f"<p class='meta'>{tables} tables, {len(catalog.entries) - tables} models, "
        f"{catalog.test_count} data tests.{checked} Generated by <code>newsflow docs</code> "
        "from <code>sql/</code>; the same content is in <code>manifest.json</code>.</p>",
        "<section class='lineage-box'><h2>Lineage</h2>",
        "<p class='legend'>"
        + "".join(
            f"<span><i style='background:{fill};border-color:{stroke}'></i>{esc(_title(g))}</span>"
            for g, (fill, stroke) in lineage.GROUP_COLORS.items()
        )
        + "<span>arrow: read by · click a box to jump to it</span></p>",
        lineage_svg(catalog),
        "</section>",
        "<p id='none' class='hidden'>Nothing matches.</p>",
    ]
    for group, entries in groups.items():
        parts.append(f"<h2 class='group' data-group='{esc(group)}'>{esc(_title(group))}</h2>")
        parts += [_entry_html(e, outcomes) for e in entries]
    parts += ["</main>", f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _entry_html(e: Entry, outcomes: dict[str, dict[str, Any]]) -> str:
    esc = html.escape
    head_text = " ".join([e.name, e.kind, e.grain, e.description, *e.tests]).lower()
    rows = []
    for c in e.columns:
        text = " ".join([c.name, c.type, c.description, *c.tests]).lower()
        tests = "".join(f"<span class='pill'>{esc(t)}</span>" for t in c.tests)
        rows.append(
            f"<tr data-text='{esc(text)}'><td><code>{esc(c.name)}</code></td>"
            f"<td class='type'>{esc(c.type)}</td><td>{esc(c.description)}</td>"
            f"<td class='tests'>{tests}</td></tr>"
        )
    tests = "".join(_test_pill(label, outcomes.get(_test_name(label))) for label in e.tests)
    return (
        f"<article class='rel' id='{esc(e.name)}' data-group='{esc(e.group)}' "
        f"data-text='{esc(head_text)}'>"
        f"<h3>{esc(e.name)}<span class='kind'>{esc(e.kind)}</span></h3>"
        f"<p class='sub'><code>{esc(e.path)}</code> · grain: {esc(e.grain)}</p>"
        f"<p class='desc'>{esc(e.description)}</p>"
        f"<p class='sub'><b>Upstream:</b> {_names_html(e.upstream)} · "
        f"<b>Downstream:</b> {_names_html(e.downstream)}</p>"
        "<table><thead><tr><th>column</th><th>type</th><th>description</th><th>tests</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        + (f"<p class='tests'>Data tests: {tests}</p>" if e.tests else "")
        + "</article>"
    )


def _test_name(label: str) -> str:
    """The test's name from its label (``_test_label`` marks warn-severity tests)."""
    return label.removesuffix(" (warn)")


def _test_pill(name: str, result: dict[str, Any] | None) -> str:
    esc = html.escape
    if result is None:
        return f"<span class='pill'>{esc(name)}</span>"
    outcome = result["outcome"]
    detail = f"{outcome}, {result['failures']} rows" if result.get("failures") else outcome
    label = f"{esc(name)}: {esc(outcome)}"
    return f"<span class='pill {esc(outcome)}' title='{esc(detail)}'>{label}</span>"


def _names_html(names: list[str]) -> str:
    links = [f"<a href='#{html.escape(n)}'><code>{html.escape(n)}</code></a>" for n in names]
    return ", ".join(links) or "—"


def lineage_layout(catalog: Catalog) -> lineage.Layout:
    """Tables and models (the etl bookkeeping feeds no model, so it is not drawn)."""
    drawn = {e.name: e.group for e in catalog.entries if e.group != "etl"}
    return lineage.layout(drawn, {e.name: e.upstream for e in catalog.entries})


def lineage_svg(catalog: Catalog) -> str:
    return lineage.render_svg(lineage_layout(catalog))


# -- manifest ---------------------------------------------------------------------------------

MANIFEST_VERSION = 1


@dataclass
class TestResults:
    """The outcome of the last data-test run against a warehouse (``DataTestResult.to_dict``)."""

    checked_at: str  # ISO 8601, UTC
    warehouse: str
    run_id: str | None
    results: list[dict[str, Any]]


def _outcomes(results: TestResults | None) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results.results} if results is not None else {}


def _headline(results: TestResults) -> str:
    return headline(r["outcome"] for r in results.results)


def manifest(catalog: Catalog, results: TestResults | None = None) -> dict[str, Any]:
    """The catalog for other tools; its schema is documented in docs/models.md."""
    outcomes = _outcomes(results)
    relations = []
    for e in catalog.entries:
        relations.append({
            "name": e.name,
            "schema": "etl" if e.group == "etl" else "main",
            "group": e.group,
            "kind": e.kind,
            "materialized": "view" if e.kind == "view" else "table",
            "path": e.path,
            "grain": e.grain,
            "description": e.description,
            "columns": [
                {"name": c.name, "type": c.type, "description": c.description, "tests": c.tests}
                for c in e.columns
            ],
            "depends_on": e.upstream,
            "referenced_by": e.downstream,
            "data_tests": [_test_name(label) for label in e.tests],
        })  # fmt: skip
    tests = []
    for t in catalog.data_tests:
        result = outcomes.get(t.name)
        tests.append({
            "name": t.name,
            "kind": t.kind,
            "relation": t.relation or None,
            "columns": list(t.columns),
            "check": t.check or None,
            "rule": t.rule,
            "severity": t.severity,
            "path": shown(t.path, catalog.root) if catalog.root else t.path.as_posix(),
            "reads": sorted(t.reads),
            "last_result": None if result is None else {
                "outcome": result["outcome"], "failures": result["failures"],
                "error": result["error"],
            },
        })  # fmt: skip
    return {
        "manifest_version": MANIFEST_VERSION,
        "generator": f"newsflow {__version__}",
        "relations": relations,
        "dependencies": [
            {"from": up, "to": e.name} for e in catalog.entries for up in e.upstream
        ],
        "data_tests": tests,
        "results": None if results is None else {
            "checked_at": results.checked_at, "warehouse": results.warehouse,
            "run_id": results.run_id,
            "summary": {o: sum(1 for r in results.results if r["outcome"] == o)
                        for o in ("pass", "warn", "fail", "error")},
        },
        "problems": catalog.problems,
    }  # fmt: skip


def write_catalog(
    catalog: Catalog, out_dir: Path, results: TestResults | None = None
) -> list[Path]:
    """Write ``catalog.md``, ``catalog.html`` and ``manifest.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("catalog.md", render_markdown(catalog)),
        ("catalog.html", render_html(catalog, results)),
        ("manifest.json", json.dumps(manifest(catalog, results), indent=2) + "\n"),
    ):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
