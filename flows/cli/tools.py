"""``newsflow bench``: its arguments; the measuring is :mod:`flows.tools.bench`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.cli.args import positive_int
from flows.cli.exits import EXIT_OK
from flows.tools import bench


def register(commands: Any) -> None:
    """Add ``bench`` to the ``newsflow`` parser."""
    parser = commands.add_parser(
        "bench",
        help="measure documents/s, per-stage time, peak memory and re-run cost",
        description=bench.__doc__,
        epilog="example:\n  newsflow bench --docs 100000 --prefect",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--docs", type=positive_int, default=20_000, help="documents to generate")
    parser.add_argument(
        "--workers", type=positive_int, help="parser processes (default and most: all cores)"
    )
    parser.add_argument("--batch-size", type=positive_int, help="documents per load transaction")
    parser.add_argument(
        "--corpus", type=Path, help="folder for the generated corpus (reused if it has --docs)"
    )
    parser.add_argument("--prefect", action="store_true", help="also time the Prefect flow")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    bench.run_bench(
        args.docs,
        workers=args.workers,
        batch_size=args.batch_size,
        corpus=args.corpus,
        prefect=args.prefect,
        json_path=args.json,
    )
    return EXIT_OK
