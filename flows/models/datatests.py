"""Data tests: rules declared in ``sql/**/*.yml`` and queries in ``sql/tests/*.sql``.

A data test is a query for the rows that break a rule; it passes when it returns none. Generic
tests (``not_null``, ``unique``, ``relationships``, ``accepted_values``, ``accepted_range``) are
declared per table or model column in YAML, next to the column descriptions the catalog shows;
singular tests are SQL files. Severity ``error`` (the default) fails a run, ``warn`` reports;
``where`` limits a rule to some rows.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from flows import db
from flows.models.build import parse_header, referenced_relations
from flows.paths import shown
from flows.records import StageFailed
from flows.text import markdown_table

DECLARATIONS = "declarations"
SHOWN_ROWS = 10
SEVERITIES = ("error", "warn")
RULE_ARGS = {
    "not_null": set(),
    "unique": {"columns"},
    "relationships": {"to"},
    "accepted_values": {"values"},
    "accepted_range": {"min", "max"},
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_RELATION = re.compile(r"^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$")
_KEY = re.compile(r"\(([a-z_][a-z0-9_]*(?:,\s*[a-z_][a-z0-9_]*)*)\)\s*$")


@dataclass(frozen=True)
class Relation:
    """A table or model as declared: what it is, its grain, its documented columns."""

    name: str
    kind: str  # "table" or "model"
    description: str
    grain: str
    columns: dict[str, str]  # name -> description
    declared_in: Path | None
    path: Path | None = None  # the model's SQL file

    @property
    def key(self) -> tuple[str, ...]:
        """Key columns, from the ``(a, b)`` that ends the grain."""
        match = _KEY.search(self.grain)
        return tuple(c.strip() for c in match.group(1).split(",")) if match else ()


@dataclass(frozen=True)
class DataTest:
    name: str
    kind: str  # "generic" or "singular"
    rule: str
    severity: str
    sql: str
    path: Path
    reads: frozenset[str]
    relation: str = ""  # the relation a generic test checks
    columns: tuple[str, ...] = ()  # and its columns
    check: str = ""  # the generic rule: not_null, unique, ...
    # How many rows break the rule, when cheaper to ask than counting ``sql``'s rows.
    count_sql: str | None = None


@dataclass
class DataTestResult:
    name: str
    kind: str
    rule: str
    severity: str
    outcome: str  # "pass", "warn", "fail" (an error-severity rule broken) or "error"
    failures: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: values of the shown rows become text."""
        plain = {k: v for k, v in self.__dict__.items() if k != "rows"}
        plain["rows"] = [{k: _text(v) for k, v in row.items()} for row in self.rows]
        return plain


@dataclass
class CheckResult:
    results: list[DataTestResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not self.count("fail") and not self.count("error")

    def headline(self) -> str:
        return headline([r.outcome for r in self.results])


def headline(outcomes: Iterable[str]) -> str:
    found = list(outcomes)
    parts = [("pass", "passed"), ("warn", "warned"), ("fail", "failed"), ("error", "errored")]
    return ", ".join(f"{found.count(key)} {word}" for key, word in parts)


# -- declarations -----------------------------------------------------------------------------


def _bad(path: Path, where: str, problem: str) -> StageFailed:
    return StageFailed(DECLARATIONS, f"{path}: {where}: {problem}")


def load_declarations(sql_dir: Path) -> dict[str, Relation]:
    """Every relation declared in ``sql/**/*.yml``, plus every model (described by its header)."""
    relations: dict[str, Relation] = {}
    for path in sorted((sql_dir / "models").rglob("*.sql")):
        name = path.stem.lower()
        grain, description = parse_header(name, path.read_text(encoding="utf-8"))
        relations[name] = Relation(name, "model", description, grain, {}, None, path)
    for path, kind, name, spec in _yaml_entries(sql_dir):
        where = f"{kind}s.{name}"
        known = relations.get(name)
        if kind == "model" and known is None:
            raise _bad(path, where, f"no model file {name}.sql under {sql_dir / 'models'}")
        if kind == "table" and known is not None:
            raise _bad(path, where, f"already declared ({known.declared_in or known.path})")
        if kind == "model" and known is not None and known.declared_in is not None:
            raise _bad(path, where, f"already declared in {known.declared_in}")
        allowed = {"columns", "tests"} | ({"description", "grain"} if kind == "table" else set())
        _only(path, where, spec, allowed, "describe a model in its SQL header")
        columns = {}
        for column, col_spec in (spec.get("columns") or {}).items():
            _only(path, f"{where}.columns.{column}", col_spec or {}, {"description", "tests"})
            columns[str(column)] = str((col_spec or {}).get("description") or "").strip()
        if known is not None:
            relations[name] = Relation(
                name, kind, known.description, known.grain, columns, path, known.path
            )
        else:
            description = str(spec.get("description") or "").strip()
            grain = str(spec.get("grain") or "").strip()
            relations[name] = Relation(name, kind, description, grain, columns, path)
    return relations


def _yaml_entries(sql_dir: Path) -> Iterable[tuple[Path, str, str, dict[str, Any]]]:
    # the warehouse tables (sql/*.yml) before the models, so reports read bottom-up
    for path in sorted(sql_dir.rglob("*.yml"), key=lambda p: (p.parent != sql_dir, p)):
        with path.open(encoding="utf-8") as handle:
            try:
                doc = yaml.load(handle, Loader=yaml.CSafeLoader) or {}
            except yaml.YAMLError as exc:
                raise StageFailed(DECLARATIONS, f"{path}: {exc}") from exc
        _only(path, "top level", doc, {"tables", "models"})
        for section in ("tables", "models"):
            entries = doc.get(section) or {}
            if not isinstance(entries, dict):
                raise _bad(path, section, "expected a mapping of name -> declaration")
            for name, spec in entries.items():
                if not isinstance(name, str) or not _RELATION.match(name):
                    raise _bad(path, section, f"not a relation name: {name!r}")
                yield path, section[:-1], name, spec or {}


def _only(path: Path, where: str, spec: Any, allowed: set[str], hint: str = "") -> None:
    if not isinstance(spec, dict):
        raise _bad(path, where, f"expected a mapping, got {type(spec).__name__}")
    extra = sorted(set(spec) - allowed)
    if extra:
        detail = (
            f"unknown key(s) {', '.join(map(str, extra))} (allowed: {', '.join(sorted(allowed))})"
        )
        raise _bad(path, where, detail + (f"; {hint}" if hint and "description" in extra else ""))


# -- tests ------------------------------------------------------------------------------------


def collect_tests(conn: duckdb.DuckDBPyConnection, sql_dir: Path) -> list[DataTest]:
    """Generic tests from the YAML declarations, then singular tests from ``sql/tests``."""
    relations = load_declarations(sql_dir)
    actual = _actual_columns(conn)
    tests: list[DataTest] = []
    for path, kind, name, spec in _yaml_entries(sql_dir):
        relation = relations[name]
        # offending rows show where they came from: the relation's own source_path, else its
        # article's (if it has an article_id and the article table exists)
        present = actual.get(name) or set(relation.columns)
        lineage = "own" if "source_path" in present else (
            "article" if "article_id" in present and "article" in actual else ""
        )  # fmt: skip
        where = f"{kind}s.{name}"
        for item in spec.get("tests") or []:
            tests.append(_generic(relation, (), item, path, where, lineage))
        for column, col_spec in (spec.get("columns") or {}).items():
            for item in (col_spec or {}).get("tests") or []:
                where_col = f"{where}.columns.{column}"
                tests.append(_generic(relation, (column,), item, path, where_col, lineage))
    for path in sorted((sql_dir / "tests").rglob("*.sql")):
        tests.append(_singular(conn, path))
    seen: dict[str, Path] = {}
    for test in tests:
        if test.name in seen:
            raise StageFailed(
                DECLARATIONS, f"{test.path}: data test {test.name!r} is also in {seen[test.name]}"
            )
        seen[test.name] = test.path
    return tests


def _actual_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = conn.execute(
        "select table_schema, table_name, list(column_name) from information_schema.columns "
        "group by all"
    ).fetchall()
    return {(t if s == "main" else f"{s}.{t}"): set(cols) for s, t, cols in rows}


def _generic(
    relation: Relation,
    columns: tuple[str, ...],
    item: Any,
    path: Path,
    where: str,
    lineage: str,
) -> DataTest:
    rule, args = None, None
    if isinstance(item, str):
        rule, args = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        rule, args = next(iter(item.items()))
    if rule not in RULE_ARGS:
        raise _bad(path, where, f"unknown test {item!r} (known: {', '.join(RULE_ARGS)})")
    args = dict(args or {})
    _only(path, f"{where}.{rule}", args, RULE_ARGS[rule] | {"severity", "where"})
    if not isinstance(args.get("where", ""), str):
        raise _bad(path, f"{where}.{rule}", "where: expected an SQL condition as text")
    severity = args.pop("severity", "error")
    if severity not in SEVERITIES:
        raise _bad(path, f"{where}.{rule}", f"severity must be error or warn, not {severity!r}")
    if not columns:
        columns = tuple(args.pop("columns", None) or ())
    args.pop("columns", None)
    if not columns or not all(isinstance(c, str) and _NAME.match(c) for c in columns):
        raise _bad(path, f"{where}.{rule}", "needs columns: a list of column names")
    name = "_".join([rule, relation.name.replace(".", "_"), *columns])
    try:
        sql, text = _compile(rule, relation, columns, args, lineage)
    except ValueError as exc:
        raise _bad(path, f"{where}.{rule}", str(exc)) from exc
    if args.get("where"):
        text += f", where {args['where']}"
    reads = {relation.name, *([args["to"].rsplit(".", 1)[0]] if rule == "relationships" else [])}
    if lineage == "article":
        reads.add("article")
    count_sql = _unique_count(relation, columns, args) if rule == "unique" else None
    return DataTest(
        name, "generic", text, severity, sql, path, frozenset(reads), relation.name, columns, rule,
        count_sql,
    )  # fmt: skip


def _unique_count(relation: Relation, columns: tuple[str, ...], args: dict[str, Any]) -> str:
    """Rows sharing a key, by aggregation: a window over every row costs several times more."""
    cols = ", ".join(_q(c) for c in columns)
    present = " or ".join(f"{_q(c)} is not null" for c in columns)
    where = f"({args['where']}) and ({present})" if args.get("where") else present
    return (
        f"select coalesce(sum(n), 0) from (select count(*) as n from {_q_rel(relation.name)} "
        f"where {where} group by {cols} having count(*) > 1)"
    )


def _compile(
    rule: str,
    relation: Relation,
    columns: tuple[str, ...],
    args: dict[str, Any],
    lineage: str,
) -> tuple[str, str]:
    """The query for the offending rows, and the rule as a sentence."""
    cols = [f"tested.{_q(c)}" for c in columns]
    label = f"{relation.name}.{columns[0]}" if len(columns) == 1 else (
        f"({', '.join(columns)}) in {relation.name}"
    )  # fmt: skip
    shown = [f"tested.{_q(c)}" for c in dict.fromkeys([*relation.key, *columns])]
    source = f"{_q_rel(relation.name)} as tested"
    if args.get("where"):  # the rule holds for these rows only
        source = f"(select * from {_q_rel(relation.name)} where {args['where']}) as tested"
    if lineage == "own":
        shown.append("tested.source_path")
    elif lineage == "article":
        shown.append("article.source_path")
        source += " left join article on tested.article_id = article.article_id"
    select = f"select {', '.join(shown)} from {source}"
    if rule == "not_null":
        return f"{select} where {cols[0]} is null", f"{label} is not null"
    if rule == "unique":
        # one NULL column is not a key (as in SQL); in a combination NULLs compare equal
        present = " or ".join(f"{c} is not null" for c in cols)
        return (
            f"{select} where {present} qualify count(*) over (partition by {', '.join(cols)}) > 1",
            f"{label} is unique",
        )
    if rule == "relationships":
        target = str(args.get("to") or "")
        parent, _, key = target.rpartition(".")
        if not _RELATION.match(parent) or not _NAME.match(key):
            raise ValueError(f"to: expected relation.column, got {target!r}")
        return (
            f"{select} where {cols[0]} is not null and not exists "
            f"(select 1 from {_q_rel(parent)} as parent where parent.{_q(key)} = {cols[0]})",
            f"every {label} is in {target}",
        )
    if rule == "accepted_values":
        values = args.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError("values: expected a non-empty list")
        listed = ", ".join(_literal(v) for v in values)
        return (
            f"{select} where {cols[0]} is not null and {cols[0]} not in ({listed})",
            f"{label} is one of {listed}",
        )
    low, high = args.get("min"), args.get("max")
    if low is None and high is None:
        raise ValueError("give min, max or both")
    checks = [f"{cols[0]} < {_literal(low)}"] if low is not None else []
    checks += [f"{cols[0]} > {_literal(high)}"] if high is not None else []
    if low is not None and high is not None:
        text = f"{label} is between {_literal(low)} and {_literal(high)}"
    else:
        text = f"{label} is {'>= ' + _literal(low) if low is not None else '<= ' + _literal(high)}"
    return f"{select} where {' or '.join(checks)}", text


def _q(name: str) -> str:
    return f'"{name}"'


def _q_rel(name: str) -> str:
    return ".".join(_q(part) for part in name.split("."))


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"not a number, text or boolean: {value!r}")


def _singular(conn: duckdb.DuckDBPyConnection, path: Path) -> DataTest:
    text = path.read_text(encoding="utf-8")
    sql = text.strip().rstrip(";").strip()
    rule, _ = parse_header(path.stem, text)
    match = re.search(r"^--\s*severity:\s*(\S+)\s*$", text, re.MULTILINE | re.I)
    severity = match.group(1).lower() if match else "error"
    if severity not in SEVERITIES:
        raise StageFailed(DECLARATIONS, f"{path}: severity must be error or warn: {severity!r}")
    try:
        reads = referenced_relations(conn, sql)
    except ValueError as exc:
        raise StageFailed(DECLARATIONS, f"{path}: {exc}") from exc
    return DataTest(path.stem, "singular", rule or path.stem, severity, sql, path, frozenset(reads))


# -- running ----------------------------------------------------------------------------------


def select_tests(tests: list[DataTest], select: Iterable[str] | None) -> list[DataTest]:
    """Tests named in ``select``, or reading a relation named there; all when empty."""
    wanted = {s.lower() for s in select or ()}
    if not wanted:
        return tests
    chosen = [t for t in tests if t.name in wanted or wanted & t.reads]
    unknown = wanted - {t.name for t in tests} - {r for t in tests for r in t.reads}
    if unknown:
        raise ValueError(
            f"--select: no data test or tested relation named {', '.join(sorted(unknown))}"
        )
    return chosen


def run_data_tests(
    conn: duckdb.DuckDBPyConnection,
    sql_dir: Path,
    select: Iterable[str] | None = None,
    threads: int = 1,
) -> CheckResult:
    """Run every (selected) data test; a test whose query fails counts as an error.

    With ``threads`` > 1 the tests run side by side on that many cursors of ``conn`` (they only
    read): most are small queries that leave cores idle on their own. Results keep the order.
    """
    started = time.perf_counter()
    result = CheckResult()
    tests = select_tests(collect_tests(conn, sql_dir), select)
    if threads <= 1 or len(tests) <= 1:
        result.results = [run_data_test(conn, test) for test in tests]
    else:
        cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        opened = [db.cursor(conn) for _ in range(threads)]
        for cursor in opened:
            cursors.put(cursor)

        def run(test: DataTest) -> DataTestResult:
            cursor = cursors.get()
            try:
                return run_data_test(cursor, test)
            finally:
                cursors.put(cursor)

        try:
            with ThreadPoolExecutor(threads, thread_name_prefix="data-test") as pool:
                result.results = list(pool.map(run, tests))
        finally:
            for cursor in opened:
                cursor.close()
        # Side by side the tests share the connection's memory limit: a test that ran out of
        # memory next to others is run again alone before it counts as an error.
        result.results = [
            run_data_test(conn, test) if _out_of_memory(outcome) else outcome
            for test, outcome in zip(tests, result.results, strict=True)
        ]
    result.seconds = time.perf_counter() - started
    return result


def _out_of_memory(outcome: DataTestResult) -> bool:
    return outcome.outcome == "error" and "Out of Memory Error" in (outcome.error or "")


def run_data_test(conn: duckdb.DuckDBPyConnection, test: DataTest) -> DataTestResult:
    outcome = DataTestResult(
        test.name, test.kind, test.rule, test.severity, "pass", path=str(test.path)
    )
    try:
        row = conn.execute(test.count_sql or f"select count(*) from ({test.sql})").fetchone()
        outcome.failures = int(row[0]) if row else 0
        if outcome.failures:
            outcome.rows = db.records(
                conn, f"select * from ({test.sql}) order by all limit {SHOWN_ROWS}"
            )
            outcome.outcome = "fail" if test.severity == "error" else "warn"
    except duckdb.Error as exc:
        outcome.outcome, outcome.error = "error", f"{test.path}: {exc}"
    return outcome


# -- reporting --------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _shown_path(value: Any) -> Any:
    """A cell that holds an absolute path, shown relative (other values as they are)."""
    return shown(value) if isinstance(value, str) and value.startswith("/") else value


def render_text(results: list[dict[str, Any]]) -> list[str]:
    """Lines for a terminal: each failure with its rule, count and up to 10 rows."""
    lines = []
    for result in results:
        if result["outcome"] == "pass":
            continue
        count = result["failures"]
        lines.append(
            f"{result['outcome'].upper()} {result['name']} [{result['severity']}]: "
            + (result["error"] or f"{result['rule']}; {count} row(s) break it")
        )
        for row in result["rows"]:
            lines.append("    " + "  ".join(f"{k}={_shown_path(v)}" for k, v in row.items()))
        if count > len(result["rows"]):
            lines.append(f"    ... and {count - len(result['rows'])} more")
    return lines


def render_markdown(results: list[dict[str, Any]]) -> str:
    """The data-test results as markdown (the flow's ``data-tests`` artifact)."""
    lines = [f"# Data tests: {headline(r['outcome'] for r in results)}", ""]
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    ranked = sorted(results, key=lambda r: order[r["outcome"]])
    lines += markdown_table(
        ["outcome", "test", "severity", "rule", "rows"],
        [
            [r["outcome"], f"`{r['name']}`", r["severity"],
             (r["error"] or r["rule"]).replace("|", "\\|"), r["failures"]]
            for r in ranked
        ],
        right={4},
    )  # fmt: skip
    for r in ranked:
        if not r["rows"]:
            continue
        names = list(r["rows"][0])
        lines += ["", f"## `{r['name']}`: {r['failures']} row(s)", ""]
        lines += markdown_table(
            names,
            [[str(_shown_path(row[n])).replace("|", "\\|") for n in names] for row in r["rows"]],
        )
    return "\n".join(lines) + "\n"
