"""The ``newsflow`` command: parse args, call the core, print a summary, map errors to exit codes.

Exit codes: 0 success (rejected documents are reported, not fatal); 1 failure, or ``--strict``
with rejections; 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flows import __version__
from flows.cli import analysis as cli_analysis
from flows.cli import ops as cli_ops
from flows.cli import progress as cli_progress
from flows.cli import storage as cli_storage
from flows.cli import tools as cli_tools
from flows.cli.args import (
    add_ingest_options,
    add_out_dir,
    add_setting,
    count_int,
    ingest_settings,
    out_dir,
)
from flows.cli.args import add_warehouse as _add_warehouse
from flows.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from flows.paths import shown as _shown
from flows.pipeline import env as prefect_env
from flows.records import StageFailed, WarehouseNotFound
from flows.settings import Settings, from_env, load_settings

RUN_EXAMPLE = """\
examples:
  newsflow run                                   # seeds/articles -> warehouse/news.duckdb
  newsflow run --source path/to/articles --warehouse out/x.duckdb
  newsflow run --no-prefect --strict             # plain Python, exit 1 if anything is rejected
  newsflow run --dask-address tcp://host:8786    # parse on a Dask cluster (README: Scale-out)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsflow",
        description="Load article front matter into a normalized DuckDB warehouse.",
    )
    parser.add_argument("--version", action="version", version=f"newsflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="extract, normalize and load articles, then build the SQL models",
        description="Extract front matter from article files, normalize it, load it into "
        "DuckDB and build the models in sql/models, as the Prefect flow 'ingest'.",
        epilog=RUN_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ingest_options(run, "run", before={"dask_address": _add_no_prefect})
    run.add_argument(
        "--top", type=count_int, default=10, help="rows of quality_by_provider to print"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    run.set_defaults(handler=cmd_run)

    rejections = commands.add_parser(
        "rejections",
        help="list the quarantine: files that are currently rejected, with the reason",
        description="List every file in the quarantine (etl.rejection) as path:line:col: reason. "
        "A file leaves the quarantine when a run loads it.",
        epilog="examples:\n  newsflow rejections --warehouse out/x.duckdb\n"
        "  newsflow rejections --kind yaml_syntax,no_front_matter",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse(rejections)
    _add_kind_filter(rejections)
    rejections.set_defaults(handler=cmd_rejections)

    explain = commands.add_parser(
        "explain",
        help="show how one file is parsed and which rows it yields, or why it is rejected",
        epilog="example:\n  newsflow explain seeds/articles/000_ea677038ccb46893.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("path", type=Path, help="the article file")
    _add_warehouse(explain)
    add_setting(explain, "max_file_bytes", help="size limit (4 MiB)")
    add_profile_options(explain)
    explain.set_defaults(handler=cmd_explain)

    contract = commands.add_parser(
        "contract",
        help="print the declared contract (source field -> column, type, rule) as Markdown",
        epilog="example:\n  newsflow contract > contract.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    contract.add_argument(
        "--profile",
        metavar="NAME|PATH",
        help="print this source profile (default, hugo, jekyll, blog or a file) instead",
    )
    contract.set_defaults(handler=cmd_contract)
    _add_model_commands(commands)
    cli_analysis.register(commands)  # query, tables, report, export
    cli_tools.register(commands)  # bench
    cli_ops.register(commands)  # serve, status
    cli_storage.register(commands)  # warehouse upgrade|downgrade|info
    return parser


def _add_no_prefect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-prefect",
        action="store_true",
        help="run the same stages as plain Python, without a Prefect flow run (quick checks)",
    )


def cmd_run(args: argparse.Namespace) -> int:
    settings = ingest_settings(args)
    asked = args.workers or from_env(os.environ).get("workers")
    if asked and asked > settings.workers:
        print(
            f"newsflow: {asked} workers asked, {settings.workers} available core(s): using "
            f"{settings.workers} (more processes parse no faster and each holds a chunk in memory)",
            file=sys.stderr,
        )
    started = time.perf_counter()
    if args.no_prefect and settings.dask_address:
        print(
            "newsflow: error: --dask-address (or NEWSFLOW_DASK_ADDRESS) runs the parse stage as "
            "Prefect tasks on the cluster; it cannot be combined with --no-prefect",
            file=sys.stderr,
        )
        return EXIT_USAGE
    check_run_inputs(settings)  # before Prefect starts or anything is created
    progress = cli_progress.reporter(args.quiet)  # a bar on a terminal, else lines
    try:
        if args.no_prefect:
            from flows.ingest import run_ingest

            summary = run_ingest(settings, on_progress=progress).to_dict()
        else:
            prefect_env.prefect_defaults()  # quiet, patient temporary API; README: Prefect
            if args.quiet:
                os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
            from flows.pipeline.server import prefect_api

            # A configured API, else a running `newsflow server`, else a temporary server
            # that dies with this process (docs/operations.md#one-terminal).
            with prefect_api("temporary"):
                from flows.pipeline.flow import run_flow

                summary = run_flow(settings, on_progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if not args.quiet:
        print_summary(summary, time.perf_counter() - started)
        print_data_tests(summary.get("data_tests") or [])
        print_quality(settings.warehouse, args.top)
    rejected = summary["files_rejected"] + summary.get("files_still_rejected", 0)
    if settings.strict and rejected:
        print(f"--strict: {rejected} document(s) rejected", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def check_run_inputs(settings: Settings) -> None:
    """The user errors a run would find only once started, found before anything starts or is
    created: a missing source, and a ``--warehouse`` path that is a folder or a file newsflow
    did not create. Raises ``StageFailed`` with the message the run would give."""
    from flows.extract.discover import check_sources
    from flows.load.publish import check_published, files_for

    check_sources(settings.sources)
    check_published(files_for(settings.warehouse))
    check_profile(settings)


def check_profile(settings: Settings) -> None:
    """A profile that cannot be loaded (unknown name, bad file) or a base URL that is not an
    absolute URL is a usage error (exit 2), found before the run starts."""
    from urllib.parse import urlsplit

    from flows.normalize.profile import resolve_profile

    # ProfileError is a ValueError: exit 2, naming the problem.
    sources = tuple(str(s) for s in settings.sources)
    profile = resolve_profile(settings.profile, settings.base_url, sources)
    if profile.base_url:
        parts = urlsplit(profile.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            given = settings.base_url or profile.base_url
            raise ValueError(
                f"--base-url: not an absolute http(s) URL: {given!r} "
                "(the site's address, e.g. https://example.org/)"
            )


def print_summary(summary: dict[str, Any], elapsed: float) -> None:
    print(f"newsflow run {summary['run_id']}: {summary['status']} in {elapsed:.2f} s")
    print(f"warehouse: {summary['warehouse']}")
    print(
        f"files: {summary['files_seen']} seen = {summary['files_loaded']} loaded"
        f" + {summary['files_rejected']} rejected + {summary['files_skipped']} skipped"
        f" ({summary['files_unchanged']} unchanged, {summary['files_superseded']} superseded)"
        f" + {summary['files_ignored']} ignored; {summary['warnings']} warning(s)"
    )
    links = summary.get("ignored_links") or []
    if links:
        print(f"ignored links ({len(links)}; docs/sandbox.md):")
        for link in links[:10]:
            print(f"  {link['path']}: {link['reason']}")
    if summary.get("files_still_rejected"):
        print(
            f"quarantine: {summary['files_still_rejected']} unchanged file(s) still rejected, "
            "skipped unread (newsflow rejections)"
        )
    if summary["files_deleted"] or summary["articles_retired"]:
        print(
            f"deleted: {summary['files_deleted']} file(s) gone since the last run; "
            f"{summary['articles_retired']} article(s) retired (deleted_at set)"
        )
    inserted, updated = summary["rows_inserted"], summary["rows_updated"]
    deleted = summary["rows_deleted"]
    print("rows:  " + ", ".join(
        f"{table} {rows} (+{inserted.get(table, 0)} ~{updated.get(table, 0)} "
        f"-{deleted.get(table, 0)})"
        for table, rows in summary["table_rows"].items()
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["seconds"].items()))
    if summary["rejections"]:
        reasons = ", ".join(f"{r['kind']} {r['files']}" for r in summary["top_reasons"])
        print(f"rejected by kind (all {len(summary['top_reasons'])}): {reasons}")
        shown = len(summary["rejections"])
        print(
            f"rejected ({shown} of {summary['files_rejected']} shown, rarest kinds first; "
            "all: newsflow rejections [--kind K]):"
        )
        for rejection in summary["rejections"]:
            print(f"  {rejection['location']}: {rejection['reason']} [{rejection['kind']}]")
    if summary["drift"]:
        print("drift (keys outside the contract, or values not stored as given):")
        for d in summary["drift"][:10]:
            expected = f"expected {d['expected_type']}" if d["expected_type"] else "new key"
            print(
                f"  {d['key_path']}: {d['observed_type']} ({expected}) in {d['documents']} "
                f"document(s), e.g. {d['example_path']}"
            )


def cmd_rejections(args: argparse.Namespace) -> int:
    from flows.analysis.explain import list_rejections

    settings = load_settings(warehouse=args.warehouse)
    rows = list_rejections(settings.warehouse, args.kind)  # an unknown kind: ValueError, exit 2
    for row in rows:
        location = ":".join(
            [_shown(Path(row["path"])), *(str(row[k]) for k in ("line", "col") if row[k])]
        )
        print(f"{location}: {row['reason']} [{row['kind']}]")
    print(f"{len(rows)} file(s) in the quarantine of {_shown(settings.warehouse)}", file=sys.stderr)
    return EXIT_OK


def _add_kind_filter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", action="extend", metavar="KIND",
        type=lambda text: [kind.strip() for kind in text.split(",") if kind.strip()],
        help="only rejections of this kind (repeat it, or a comma list); an unknown kind is a "
        "usage error that lists the known ones",
    )  # fmt: skip


def cmd_explain(args: argparse.Namespace) -> int:
    from flows.analysis.explain import explain_file

    settings = load_settings(warehouse=args.warehouse, max_file_bytes=args.max_file_bytes)
    if not args.path.exists() and not args.path.is_symlink():
        print(f"newsflow: no such file: {args.path}", file=sys.stderr)
        return EXIT_FAILED
    # A warehouse named (--warehouse, NEWSFLOW_WAREHOUSE) must exist; the default one is only
    # consulted when it does: explaining a file needs no warehouse.
    named = args.warehouse is not None or "warehouse" in from_env(os.environ)
    warehouse = settings.warehouse if named or settings.warehouse.exists() else None
    found = explain_file(args.path, settings.max_file_bytes, warehouse, explain_profile(args))
    print(f"file: {_shown(Path(found.path))}")
    if found.keys:
        print(f"front matter keys: {', '.join(found.keys)}")
        print(f"body: {found.body_chars} characters")
    if found.rejection:
        rejection = found.rejection
        print(f"REJECTED at {rejection.stage} ({rejection.kind}):")
        print(f"  {rejection.location(_shown(Path(found.path)))}: {rejection.reason}")
        for line in found.context:
            print(f"    {line}")
        if found.hint:
            print(f"  hint: {found.hint}")
    for table, rows in found.rows.items():
        print(f"\n{table}: {len(rows)} row(s)")
        for row in rows:
            shown = {k: _short(v) for k, v in row.items()}
            print("  " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if found.warnings:
        print("\nwarnings:")
        for name, message in found.warnings:
            print(f"  {name}: {message}")
    if found.drift:
        print("\ndrift:")
        for key, observed, expected in found.drift:
            print(f"  {key}: {observed} ({f'expected {expected}' if expected else 'new key'})")
    if found.warehouse_state:
        print(f"\nwarehouse {_shown(settings.warehouse)}: {found.warehouse_state}")
    return EXIT_FAILED if found.rejection else EXIT_OK


def _short(value: Any, width: int = 60) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_contract(args: argparse.Namespace) -> int:
    from flows.normalize.contract import render_markdown

    if getattr(args, "profile", None):
        return print_profile(args.profile)
    print(render_markdown(), end="")
    return EXIT_OK


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """``explain``'s --profile and --base-url: the file as a run with them would load it."""
    parser.add_argument("--profile", metavar="NAME|PATH",
                        help="apply this source profile first (docs/profiles.md)")  # fmt: skip
    parser.add_argument("--base-url", metavar="URL",
                        help="the site's address, for the profile's URLs")  # fmt: skip


def explain_profile(args: argparse.Namespace) -> Any:
    """The profile ``explain`` applies (paths relative to the current folder, as a run whose
    source is this folder sees them), or None."""
    from flows.normalize.profile import load_profile

    name = getattr(args, "profile", None) or from_env(os.environ).get("profile")
    if not name:
        return None
    profile = load_profile(name)
    base_url = getattr(args, "base_url", None) or from_env(os.environ).get("base_url")
    return None if profile.is_default else profile.for_run(base_url, (os.getcwd(),))


def print_profile(name: str) -> int:
    """``newsflow contract --profile P``: the profile's file, headed by what a run records."""
    from flows.normalize.profile import ProfileError, load_profile

    try:
        profile = load_profile(name)
    except ProfileError as exc:
        print(f"newsflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"# profile {profile.name}, recorded as contract version {profile.ledger_version()}")
    print(profile.text, end="" if profile.text.endswith("\n") else "\n")
    return EXIT_OK


def print_quality(warehouse: Path, top: int) -> None:
    import pandas as pd

    from flows.analysis.warehouse import Warehouse

    with Warehouse(warehouse) as wh:
        rows = wh.query("select * from quality_by_provider", limit=top).records()
    print(f"\nquality_by_provider (top {len(rows)}):")
    if not rows:
        print("  (no rows)")
        return
    frame = pd.DataFrame(rows).drop(columns=["provider_id"])
    frame["published_share"] = frame["published_share"].round(4)  # exact in the model
    for column in ("first_published_at", "last_published_at"):
        frame[column] = frame[column].map(lambda v: v.strftime("%Y-%m-%d") if v else "")
    print(frame.to_string(index=False))


def _add_model_commands(commands: Any) -> None:
    """``newsflow models``, ``newsflow check`` and ``newsflow docs``."""
    models = commands.add_parser(
        "models",
        help="build the SQL models in sql/models (all, or --select some) without loading",
        description="Create the models in sql/models as views or tables, in dependency order.",
        epilog="selectors (dbt-style): NAME the model alone, +NAME with everything it reads, "
        "NAME+ with everything that reads it, +NAME+ both\nexample:\n"
        "  newsflow models --select +topic_trends quality_by_provider",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse(models)
    models.add_argument(
        "--select", nargs="+", action="extend", metavar="SELECTOR",
        help="models to build: NAME, +NAME, NAME+ or +NAME+",
    )  # fmt: skip
    models.set_defaults(handler=cmd_models)

    check = commands.add_parser(
        "check",
        help="run the data tests (sql/**/*.yml rules and sql/tests/*.sql); exit 1 on an error",
        description="Run every data test against the warehouse (read-only). Prints each failing "
        "test with its rule, the number of offending rows and up to 10 of them; exits 1 when a "
        "test of severity error fails, 0 when only warnings do.",
        epilog="example:\n  newsflow check --warehouse out/x.duckdb --select article",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse(check)
    check.add_argument(
        "--select", nargs="+", action="extend", metavar="NAME",
        help="only tests with this name, or testing this table or model",
    )  # fmt: skip
    check.set_defaults(handler=cmd_check)

    docs = commands.add_parser(
        "docs",
        help="write the catalog of every table and model (Markdown, HTML, manifest.json)",
        description="Build the warehouse DDL and every model in memory and write catalog.md and "
        "catalog.html: description, grain, columns with types and descriptions, upstream, "
        "downstream and data tests, and manifest.json for other tools (docs/models.md). With "
        "an existing --warehouse, the data tests run read-only and their results are included. "
        "Exits 1 when a declaration is out of date.",
        epilog="example:\n  newsflow docs --out build/catalog",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse(docs)  # only where --out goes by default: the catalog needs no warehouse
    add_out_dir(docs, "catalog")
    docs.set_defaults(handler=cmd_docs)


def _require_warehouse(path: Path) -> None:
    from flows.analysis.warehouse import require_warehouse

    require_warehouse(path)


def cmd_models(args: argparse.Namespace) -> int:
    from flows.ingest import rebuild_models

    settings = load_settings(warehouse=args.warehouse)
    _require_warehouse(settings.warehouse)
    result = rebuild_models(settings, select=args.select)
    for name in result.dropped:
        print(f"dropped {name}: its model file is gone")
    if result.built:
        print("built: " + ", ".join(result.built))
    for name, error in result.failed.items():
        print(f"FAILED {name}: {error}", file=sys.stderr)
    if result.skipped:
        print("skipped (an upstream model failed): " + ", ".join(result.skipped), file=sys.stderr)
    print(
        f"models: {len(result.built)} built, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped in {result.seconds:.2f} s"
    )
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from flows.ingest import check_data

    settings = load_settings(warehouse=args.warehouse)
    _require_warehouse(settings.warehouse)
    result = check_data(settings, select=args.select, read_only=True)
    print_data_tests([r.to_dict() for r in result.results], seconds=result.seconds)
    return EXIT_OK if result.ok else EXIT_FAILED


def print_data_tests(results: list[dict[str, Any]], seconds: float | None = None) -> None:
    from flows.models.datatests import headline, render_text

    if not results:
        return
    for line in render_text(results):
        print(line)
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    print(f"data tests: {headline(r['outcome'] for r in results)}{took}")


def cmd_docs(args: argparse.Namespace) -> int:
    from flows.models.catalog import compile_catalog, write_catalog

    settings = load_settings(warehouse=args.warehouse)
    catalog = compile_catalog(settings.sql_dir)
    out = out_dir(args, settings.warehouse)
    for path in write_catalog(catalog, out, _last_test_results(settings)):
        print(f"wrote {_shown(path)}")
    print(f"{len(catalog.entries)} tables and models, {catalog.test_count} data tests")
    for problem in catalog.problems:
        print(f"catalog out of date: {problem}", file=sys.stderr)
    return EXIT_FAILED if catalog.problems else EXIT_OK


def _last_test_results(settings: Any) -> Any:
    """The data tests run read-only against the warehouse, for the catalog; None without one."""
    import datetime as dt

    from flows.analysis.warehouse import Warehouse
    from flows.ingest import check_data
    from flows.models.catalog import TestResults

    if not settings.warehouse.is_file():
        return None
    checked = check_data(settings, read_only=True)
    with Warehouse(settings.warehouse) as wh:
        run = wh.last_run()
    return TestResults(
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        _shown(settings.warehouse),
        run["run_id"] if run else None,
        [r.to_dict() for r in checked.results],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:
        print(f"newsflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StageFailed, WarehouseNotFound) as exc:
        print(f"newsflow: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `newsflow run | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("newsflow: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # anything else: one line, not a traceback
        print(f"newsflow: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
