"""``newsflow warehouse upgrade|downgrade|info``: the storage format of the published file.

A new warehouse is written in storage format v1.4.0, which DuckDB 1.4 and later read (PyPI's
duckdb-cli, the 1.4 Python client, JDBC, R). A warehouse written before keeps the format it has
(DuckDB 2.0's own) until it is rewritten here, under the writer lock: `downgrade` writes v1.4.0,
`upgrade` DuckDB's latest format (only DuckDB 2.0 reads it). docs/duckdb-line.md.

Exit codes: 0 success, 1 failure (no warehouse, the lock held too long), 2 usage error.
"""

from __future__ import annotations

import argparse
from typing import Any

from flows.cli.args import add_warehouse
from flows.cli.exits import EXIT_OK
from flows.paths import shown
from flows.settings import load_settings

EXAMPLE = """\
examples:
  newsflow warehouse info --warehouse warehouse/news.duckdb
  newsflow warehouse downgrade --warehouse warehouse/news.duckdb   # readable by DuckDB 1.4+
  newsflow warehouse upgrade --warehouse warehouse/news.duckdb     # DuckDB 2.0 only
"""


def register(commands: Any) -> None:
    """Add ``warehouse`` to the ``newsflow`` parser."""
    parser = commands.add_parser(
        "warehouse",
        help="show or change the storage format of the warehouse file (DuckDB 1.4+ or 2.0)",
        description=__doc__.split("\n\n")[1],
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("info", "upgrade", "downgrade"))
    add_warehouse(parser)
    parser.set_defaults(handler=cmd_warehouse)


def cmd_warehouse(args: argparse.Namespace) -> int:
    from flows.analysis.warehouse import require_warehouse
    from flows.ingest import rewrite_warehouse, warehouse_storage

    settings = load_settings(warehouse=args.warehouse)
    require_warehouse(settings.warehouse)
    if args.action == "info":
        print(f"{shown(settings.warehouse)}: storage {warehouse_storage(settings)}")
        return EXIT_OK
    before, after = rewrite_warehouse(settings, args.action)
    print(f"{shown(settings.warehouse)}: storage {before} -> {after}")
    return EXIT_OK
