"""Argument types and shared options of the ``newsflow`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.paths import shown
from flows.settings import DEFAULT_WAREHOUSE, Settings, load_settings


def count_int(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    value = count_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_warehouse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        type=Path,
        metavar="PATH",
        help=f"DuckDB file (default: {shown(DEFAULT_WAREHOUSE)}, or NEWSFLOW_WAREHOUSE)",
    )


def add_dask_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dask-address",
        metavar="ADDRESS",
        help="parse on a Dask cluster: its scheduler (tcp://host:8786), or 'local' for a "
        "temporary cluster of --workers processes; the load stays in this process; needs the "
        "dask extra and Prefect (or NEWSFLOW_DASK_ADDRESS)",
    )


def ingest_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the ingest options shared by ``run`` and ``serve``."""
    return load_settings(
        sources=tuple(args.source) if args.source else None,
        warehouse=args.warehouse,
        workers=args.workers,
        batch_size=args.batch_size,
        max_file_bytes=args.max_file_bytes,
        full_refresh=args.full_refresh or None,
        prune=args.prune or None,
        lock_timeout=args.lock_timeout,
        dask_address=args.dask_address,
        **extra,
    )
