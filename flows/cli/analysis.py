"""``newsflow query``, ``tables``, ``search``, ``report`` and ``export``: read-only analysis
commands.

Each opens the published warehouse read-only (``Warehouse``), so it never
changes it and never blocks a run. Data goes to stdout, messages to stderr. ``--quiet`` prints
only data and errors; ``--verbose`` adds what was read and how long it took. Progress bars appear
only when both stdout and stderr are terminals (never in CI or a pipe).

Exit codes: 0 success, 1 failure (a query error, a missing warehouse), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.analysis.formats import FORMATS, render
from flows.cli.args import add_out_dir, out_dir, positive_int
from flows.cli.args import count_int as _count
from flows.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from flows.paths import shown as _shown
from flows.settings import DEFAULT_WAREHOUSE, load_settings

SCREEN_ROWS = 100  # default --limit for table and markdown output

QUERY_EXAMPLE = """\
examples:
  newsflow query "select * from quality_by_provider limit 5"
  newsflow query --format csv "select * from topic_trends" > topic_trends.csv
  newsflow query --file q.sql --format markdown --limit 20
  echo "select count(*) from article" | newsflow query --file -
"""


def register(commands: Any) -> None:
    """Add the analysis subcommands to the ``newsflow`` parser."""
    query = commands.add_parser(
        "query",
        help="run SQL against the warehouse (read-only) and print a table, CSV, JSON or Markdown",
        description="Run one SQL query (or several statements; the last one's rows are printed) "
        "against the published warehouse, read-only. Rows go to stdout; the row count and notes "
        f"go to stderr. Default --limit: {SCREEN_ROWS} rows for table and markdown, none for "
        "csv and json. Exit 1 on a SQL error, with DuckDB's message and the tables that exist.",
        epilog=QUERY_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("sql", nargs="?", help="the SQL to run (or use --file)")
    query.add_argument(
        "--file", "-f", metavar="PATH", help="read the SQL from this file ('-': standard input)"
    )
    query.add_argument("--format", choices=FORMATS, default="table", help="output format")
    query.add_argument(
        "--limit", type=_count, metavar="N",
        help=f"print at most N rows; 0 for all (default: {SCREEN_ROWS} for table/markdown, "
        "all for csv/json)",
    )  # fmt: skip
    _add_common(query)
    query.set_defaults(handler=cmd_query)

    tables = commands.add_parser(
        "tables",
        help="list the tables and models of the warehouse with row counts",
        description="List every warehouse table, model and (unless --no-etl) etl bookkeeping "
        "table with its kind and column and row counts. Descriptions: newsflow docs.",
        epilog="examples:\n  newsflow tables\n  newsflow tables --no-etl --format markdown",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tables.add_argument("--format", choices=FORMATS, default="table", help="output format")
    tables.add_argument("--no-etl", action="store_true", help="leave out the etl.* tables")
    _add_common(tables)
    tables.set_defaults(handler=cmd_tables)

    report = commands.add_parser(
        "report",
        help="write a self-contained HTML report (charts and tables) of the key models",
        description="Write DIR/report.html: quality by provider, topic trends, the "
        "provider/topic heatmap, the related-citation network and image coverage, with charts "
        "embedded as PNG. One file, no external references: open it in any browser or mail it.",
        epilog="example:\n  newsflow report --out build/report   # writes build/report/report.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_out_dir(report, "report")
    _add_common(report)
    report.set_defaults(handler=cmd_report)

    export = commands.add_parser(
        "export",
        help="write every table and model as Parquet, with a manifest",
        description="Write every table and model to DIR as Parquet (article partitioned by the "
        "UTC year and month of published_at), plus manifest.json with each relation's files, "
        "sha256, columns, row count and content checksum. DIR is replaced only if it holds an "
        "earlier export (or nothing).",
        epilog="examples:\n  newsflow export --format parquet --out build/parquet\n"
        "  duckdb -c \"select count(*) from read_parquet('build/parquet/article/**/*.parquet')\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--format", choices=("parquet",), default="parquet", help="file format")
    add_out_dir(export, "export")
    export.add_argument(
        "--with-etl", action="store_true", help="also export the etl.* bookkeeping tables"
    )
    _add_common(export)
    export.set_defaults(handler=cmd_export)
    _register_search(commands)


def _register_search(commands: Any) -> None:
    search = commands.add_parser(
        "search",
        help="full-text search over articles (title, excerpt, body), ranked by BM25",
        description="Find live articles with any of the terms in their title, excerpt or body, "
        "best first (BM25, docs/search.md). A term is a run of letters and digits, any case. "
        "Exit 0 with results, 1 with none (or a failure), 2 when the terms hold no letter or "
        "digit.",
        epilog='examples:\n  newsflow search "robot vision"\n'
        '  newsflow search --limit 5 --format csv "privacy"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("terms", help="the words to look for")
    search.add_argument(
        "--limit", type=positive_int, default=10, metavar="N", help="print at most N (default 10)"
    )
    search.add_argument("--format", choices=FORMATS, default="table", help="output format")
    _add_common(search)
    search.set_defaults(handler=cmd_search)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse", type=Path, metavar="PATH",
        help=f"DuckDB file, opened read-only (default: {_shown(DEFAULT_WAREHOUSE)}, "
        "or NEWSFLOW_WAREHOUSE)",
    )  # fmt: skip
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only data and errors")
    loudness.add_argument(
        "-v", "--verbose", action="store_true", help="also print what is read, with timings"
    )


# -- commands ----------------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    from flows.analysis.warehouse import QueryError

    sql = _read_sql(args)
    limit = args.limit if args.limit is not None else _default_limit(args.format)
    with _open(args) as wh:
        if wh is None:
            return EXIT_FAILED
        try:
            result = wh.query(sql, limit=limit or None)
        except QueryError as exc:
            print(f"newsflow: query failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if not result.columns:
        _note(args, "OK (the statement returned no rows)")
        return EXIT_OK
    sys.stdout.write(render(result.columns, result.rows, args.format))
    if result.truncated:
        _note(args, f"showing the first {limit} rows; more exist (--limit N, or --limit 0 for all)")
    _note(args, f"{len(result.rows)} row(s) in {result.seconds:.3f} s")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from flows.analysis.warehouse import QueryError

    with _open(args) as wh:
        if wh is None:
            return EXIT_FAILED
        try:
            result = wh.search(args.terms, limit=args.limit)
        except ValueError as exc:
            print(f"newsflow: search: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except QueryError as exc:
            print(f"newsflow: search failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if wh.search_index_behind():
            print(
                "newsflow: note: the search index is behind the articles (its last refresh did "
                "not finish; see docs/search.md): results may miss new or changed articles",
                file=sys.stderr,
            )
    if not result.rows:
        _note(args, f"no article matches {args.terms!r}")
        return EXIT_FAILED
    sys.stdout.write(render(result.columns, result.rows, args.format))
    _note(args, f"{len(result.rows)} article(s) in {result.seconds:.3f} s")
    return EXIT_OK


def cmd_tables(args: argparse.Namespace) -> int:
    with _open(args) as wh:
        if wh is None:
            return EXIT_FAILED
        found = wh.list_relations(include_etl=not args.no_etl, count_rows=False)
        counted = []
        with _steps(args, len(found), "counting rows") as step:
            for relation in found:
                step(relation.name)
                counted.append(wh.count_rows(relation))
    rows = [(r.name, r.role, r.kind, r.columns, r.rows) for r in counted]
    sys.stdout.write(render(["name", "role", "kind", "columns", "rows"], rows, args.format))
    shown = ("table", "model") if args.no_etl else ("table", "model", "etl")
    _note(args, ", ".join(f"{sum(1 for r in counted if r.role == k)} {k}(s)" for k in shown))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from flows.analysis.report import build_sections, write_report

    started = time.perf_counter()
    with _open(args) as wh:
        if wh is None:
            return EXIT_FAILED
        out = out_dir(args, wh.path)
        with _steps(args, len(build_sections(wh)), "report") as step:
            report = write_report(wh, out, on_section=step)
    rows = [
        (s.title, "yes" if s.chart else "no", len(s.findings), sum(len(t[2]) for t in s.tables))
        for s in report.sections
    ]
    _summary(args, ["section", "chart", "findings", "table rows"], rows)
    if not args.quiet:
        print(
            f"wrote {_shown(report.path)} ({report.bytes / 1024:.0f} KiB, "
            f"{sum(1 for s in report.sections if s.chart)} charts) "
            f"in {time.perf_counter() - started:.2f} s"
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from flows.analysis.export import MANIFEST, export_parquet

    started = time.perf_counter()
    with _open(args) as wh:
        if wh is None:
            return EXIT_FAILED
        out = out_dir(args, wh.path)
        total = len(wh.list_relations(include_etl=args.with_etl, count_rows=False))
        with _steps(args, total, "export") as step:
            manifest = export_parquet(
                wh, out, include_etl=args.with_etl, on_relation=lambda r: step(r.name)
            )
    entries = manifest["relations"]
    rows = [
        (e["relation"], e["role"], e["rows"], len(e["files"]), sum(f["bytes"] for f in e["files"]))
        for e in entries
    ]
    _summary(args, ["relation", "role", "rows", "files", "bytes"], rows)
    if not args.quiet:
        size = sum(r[4] for r in rows)
        print(
            f"wrote {len(entries)} relations ({sum(r[2] for r in rows)} rows, "
            f"{sum(r[3] for r in rows)} files, {size / 1024:.0f} KiB) and "
            f"{_shown(Path(out) / MANIFEST)} in {time.perf_counter() - started:.2f} s"
        )
    return EXIT_OK


# -- helpers -----------------------------------------------------------------------------------


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[Any]:
    """The warehouse, read-only; None (after saying why) when it cannot be opened. A missing
    one raises ``WarehouseNotFound`` (``newsflow: warehouse not found: ...``, exit 1)."""
    import duckdb

    from flows.analysis.warehouse import Warehouse, require_warehouse

    path = require_warehouse(load_settings(warehouse=args.warehouse).warehouse)
    try:
        wh = Warehouse(path)
    except duckdb.Error as exc:
        print(f"newsflow: cannot open {_shown(path)} read-only: {exc}", file=sys.stderr)
        yield None
        return
    try:
        if args.verbose:
            run = wh.last_run()
            seen = f"run {run['run_id']} ({run['finished_at']:%Y-%m-%d %H:%M} UTC)" if run else ""
            _note(args, f"reading {_shown(path)} {seen}".rstrip())
        yield wh
    finally:
        wh.close()


@contextmanager
def _steps(args: argparse.Namespace, total: int, label: str) -> Iterator[Callable[[str], None]]:
    """A step counter: a progress bar on a terminal, timings with --verbose, else silent."""
    bar = None
    if not args.quiet and _interactive():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit="step", leave=False, file=sys.stderr)
    current: list[Any] = [None, time.perf_counter()]

    def finish_current() -> None:
        if current[0] is not None and args.verbose:
            message = f"{label}: {current[0]} in {time.perf_counter() - current[1]:.2f} s"
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                _note(args, message)
        if current[0] is not None and bar is not None:
            bar.update(1)

    def step(name: str) -> None:
        finish_current()
        current[:] = [name, time.perf_counter()]
        if bar is not None:
            bar.set_postfix_str(name)

    try:
        yield step
        finish_current()
    finally:
        if bar is not None:
            bar.close()


def _interactive() -> bool:
    return (
        sys.stdout.isatty()
        and sys.stderr.isatty()
        and os.environ.get("TERM") != "dumb"
        and not os.environ.get("CI")
    )


def _summary(args: argparse.Namespace, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    if not args.quiet:
        sys.stdout.write(render(columns, rows, "table"))


def _note(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _read_sql(args: argparse.Namespace) -> str:
    if args.sql is not None and args.file is not None:
        raise ValueError("give the SQL as an argument or with --file, not both")
    if args.file == "-":
        sql = sys.stdin.read()
    elif args.file is not None:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read --file {args.file}: {exc}") from None
    else:
        sql = args.sql or ""
    if not sql.strip():
        raise ValueError('no SQL given: newsflow query "select ..." or newsflow query --file q.sql')
    return sql


def _default_limit(fmt: str) -> int:
    return SCREEN_ROWS if fmt in ("table", "markdown") else 0
