"""The catalog: every table and model with its grain, description, columns, lineage and tests.

Types come from DuckDB itself: the warehouse DDL and every model are built in an in-memory
database, so the catalog describes what the SQL in the repository produces, needs no warehouse
file, and notices when a declared column no longer exists. Descriptions come from the YAML
declarations (``sql/**/*.yml``) and, for models, from the header of their SQL file.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from flows.db import ensure_schema
from flows.models.build import Model, discover_models, run_models
from flows.models.datatests import DataTest, Relation, collect_tests, load_declarations
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
    catalog = Catalog([], [], len(tests))
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


def render_html(catalog: Catalog) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>newsflow catalog</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:left;vertical-align:top}code{background:#f4f4f4}</style></head><body>",
        "<h1>newsflow catalog</h1>",
    ]
    groups = _groups(catalog)
    for group, entries in groups.items():
        links = ", ".join(
            f"<a href='#{esc(e.name)}'><code>{esc(e.name)}</code></a>" for e in entries
        )
        parts.append(f"<p>{esc(_title(group))}: {links}</p>")
    for group, entries in groups.items():
        parts.append(f"<h2>{esc(_title(group))}</h2>")
        for e in entries:
            parts.append(f"<h3 id='{esc(e.name)}'>{esc(e.name)}</h3>")
            parts.append(
                f"<p><em>{esc(e.kind)}</em> · <code>{esc(e.path)}</code> · grain: {esc(e.grain)}"
                f"</p><p>{esc(e.description)}</p><p><b>Upstream:</b> {_names_html(e.upstream)} · "
                f"<b>Downstream:</b> {_names_html(e.downstream)}</p>"
            )
            rows = "".join(
                f"<tr><td><code>{esc(c.name)}</code></td><td>{esc(c.type)}</td>"
                f"<td>{esc(c.description)}</td><td>{esc(', '.join(c.tests))}</td></tr>"
                for c in e.columns
            )
            parts.append(
                "<table><tr><th>column</th><th>type</th><th>description</th><th>tests</th></tr>"
                f"{rows}</table>"
            )
            if e.tests:
                parts.append(f"<p>Data tests: {esc(', '.join(e.tests))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _names_html(names: list[str]) -> str:
    links = [f"<a href='#{html.escape(n)}'><code>{html.escape(n)}</code></a>" for n in names]
    return ", ".join(links) or "—"


def write_catalog(catalog: Catalog, out_dir: Path) -> list[Path]:
    """Write ``catalog.md`` and ``catalog.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("catalog.md", render_markdown(catalog)),
                       ("catalog.html", render_html(catalog))):  # fmt: skip
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
