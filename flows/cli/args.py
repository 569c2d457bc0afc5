"""Argument types and shared options of the ``newsflow`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flows.paths import shown
from flows.settings import (
    Settings,
    declared_settings,
    default_of,
    flag_of,
    from_values,
    load_settings,
    setting_types,
)


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


def add_setting(
    parser: argparse.ArgumentParser, name: str, command: str = "run", **options: Any
) -> None:
    """The flag of one declared setting (flows/settings.py), as ``command`` shows it;
    ``options`` override the declared ones (e.g. another ``help``)."""
    declared = declared_settings()[name]
    kind = setting_types()[name]
    help_text = declared.serve_help if command == "serve" and declared.serve_help else declared.help
    if "{default}" in help_text:
        default = default_of(name)
        help_text = help_text.format(default=shown(default[0] if kind != Path else default))
    argument: dict[str, Any] = {"dest": name, "help": help_text}
    if kind is bool:
        argument["action"] = "store_true"
    else:
        argument["type"] = _flag_type(kind, declared.minimum)
        argument["metavar"] = declared.metavar
    if kind == tuple[Path, ...]:
        argument.update(action="append", type=Path)
    parser.add_argument(flag_of(name), **{**argument, **options})


def non_negative_float(text: str) -> float:
    """A number, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _flag_type(kind: Any, minimum: float | None) -> Any:
    if kind is int:
        return positive_int if minimum == 1 else count_int if minimum == 0 else int
    if kind is float and minimum == 0:
        return non_negative_float
    return None if kind is str or kind == str | None else kind


def add_ingest_options(
    parser: argparse.ArgumentParser,
    command: str,
    before: Mapping[str, Callable[[argparse.ArgumentParser], None]] | None = None,
) -> None:
    """The flags of every declared setting, in declaration order; ``before`` adds other options
    just before the flag of a setting (``{"dask_address": add_no_prefect}``)."""
    for name in declared_settings():
        if before and name in before:
            before[name](parser)
        add_setting(parser, name, command)


def add_warehouse(parser: argparse.ArgumentParser) -> None:
    add_setting(parser, "warehouse")


def ingest_settings(args: argparse.Namespace) -> Settings:
    """Settings from the ingest options added by :func:`add_ingest_options`."""
    return load_settings(**from_values({name: getattr(args, name) for name in declared_settings()}))


def add_out_dir(parser: argparse.ArgumentParser, name: str) -> None:
    """``--out DIR``: where a command writes its files, by default ``name/`` beside the warehouse
    file (:func:`out_dir`)."""
    parser.add_argument(
        "--out", type=Path, metavar="DIR",
        help=f"output folder (default: {name}/ beside the warehouse file)",
    )  # fmt: skip
    parser.set_defaults(out_name=name)


def out_dir(args: argparse.Namespace, warehouse: Path) -> Path:
    """The folder given with ``--out``, or the command's default folder beside ``warehouse``."""
    return args.out or warehouse.parent / args.out_name
