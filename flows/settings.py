"""One frozen Settings object: repo-relative defaults; NEWSFLOW_* env and flags override.

Every setting is declared once, on its :class:`Settings` field (type and default) with a
:class:`Setting` in the field's metadata (flag, environment variable, minimum, help). The CLI
options of ``run`` and ``serve``, the environment variables, the parameters of the Prefect flow
``ingest``, the parameters recorded in ``etl.run``, ``newsflow bench`` and docs/settings.md are
all derived from it (``python -m flows.settings > docs/settings.md`` regenerates the docs).
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT / "seeds" / "articles"
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "news.duckdb"
SQL_DIR = REPO_ROOT / "sql"
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024
DEFAULT_BATCH_SIZE = 10_000
ENV_PREFIX = "NEWSFLOW_"
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """How one :class:`Settings` field is set and documented.

    ``key`` names the flag (``--key``) and the variable (``NEWSFLOW_KEY``) when it differs from
    the field name; ``help`` is the flag's help text (``{default}`` is replaced by the default
    path as the user would type it) and ``serve_help`` its text under ``newsflow serve`` when it
    differs; ``meaning`` and ``default_text`` are for docs/settings.md; ``recorded`` settings
    are stored with each run in ``etl.run.parameters``.
    """

    help: str
    meaning: str
    key: str | None = None
    metavar: str | None = None
    minimum: float | None = None
    serve_help: str | None = None
    default_text: str | None = None
    recorded: bool = True


def declare(**declared: Any) -> dict[str, Setting]:
    """The metadata that makes a Settings field a setting (see :class:`Setting`)."""
    return {"setting": Setting(**declared)}


def available_cores() -> int:
    """The cores this process may run on: the default, and the most, worker processes."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


_default_workers = available_cores


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know; build with :func:`load_settings`."""

    sources: tuple[Path, ...] = field(
        default=(DEFAULT_SOURCE,),
        metadata=declare(
            key="source",
            metavar="PATH",
            help="file or folder of .txt/.md/.markdown articles; repeatable "
            "(default: {default}, or NEWSFLOW_SOURCE)",
            serve_help="file or folder of articles; repeatable (default: seeds/articles, or "
            "NEWSFLOW_SOURCE)",
            meaning="files or folders of articles, searched recursively; the variable separates "
            f"several with `{os.pathsep}`",
            default_text="`seeds/articles`",
        ),
    )
    warehouse: Path = field(
        default=DEFAULT_WAREHOUSE,
        metadata=declare(
            metavar="PATH",
            help="DuckDB file (default: {default}, or NEWSFLOW_WAREHOUSE)",
            meaning="the DuckDB file (created if missing)",
            default_text="`warehouse/news.duckdb`",
        ),
    )
    sql_dir: Path = SQL_DIR  # part of the code, not a setting
    workers: int = field(
        default_factory=_default_workers,
        metadata=declare(
            minimum=1,
            help="parser processes (default: all cores; more than the available cores are "
            "clamped to them)",
            meaning="parser processes (and data-test threads); more than the available cores "
            "are clamped to them: each process holds a chunk in memory, and more processes "
            "than cores parse no faster",
            default_text="all cores",
        ),
    )
    batch_size: int = field(
        default=DEFAULT_BATCH_SIZE,
        metadata=declare(
            minimum=1,
            help="documents per load transaction",
            meaning="documents per load transaction",
        ),
    )
    max_file_bytes: int = field(
        default=DEFAULT_MAX_FILE_BYTES,
        metadata=declare(
            minimum=1,
            help="files larger than this are rejected (4 MiB)",
            meaning="larger files are rejected",
            default_text="4194304 (4 MiB)",
        ),
    )
    strict: bool = field(
        default=False,
        metadata=declare(
            help="exit 1 if any document is rejected",
            serve_help="a run with rejected documents ends Failed",
            meaning="a run with rejected documents ends Failed (`newsflow run` exits 1)",
            recorded=False,
        ),
    )
    full_refresh: bool = field(
        default=False,
        metadata=declare(
            help="rebuild the warehouse from the sources instead of loading only what changed",
            serve_help="rebuild from the sources on every run",
            meaning="rebuild the data from the sources instead of loading what changed "
            "(etl.run keeps the history)",
        ),
    )
    prune: bool = field(
        default=False,
        metadata=declare(
            help="remove the rows of articles whose file was deleted (default: keep them, with "
            "article.deleted_at set)",
            serve_help="remove the rows of articles whose file was deleted",
            meaning="remove retired articles (deleted files) instead of keeping them with "
            "`deleted_at`",
        ),
    )
    lock_timeout: float = field(
        default=30.0,
        metadata=declare(
            minimum=0,
            metavar="SECONDS",
            help="wait this long for another run on the same warehouse to finish (default 30)",
            serve_help="each attempt waits this long for another run on the warehouse (default 30)",
            meaning="seconds to wait for another run on the same warehouse",
            recorded=False,
        ),
    )
    checkpoint_mb: int = field(
        default=128,
        metadata=declare(
            minimum=1,
            metavar="MB",
            help="DuckDB checkpoint threshold of the load, in MB (default 128)",
            meaning="DuckDB `checkpoint_threshold` while loading, in MB",
            recorded=False,
        ),
    )
    duckdb_memory_mb: int = field(
        default=256,
        metadata=declare(
            minimum=1,
            metavar="MB",
            help="DuckDB memory limit of the run's connections, in MB (default 256)",
            meaning="DuckDB `memory_limit` of the run's connections, in MB",
            recorded=False,
        ),
    )
    dask_address: str | None = field(
        default=None,
        metadata=declare(
            metavar="ADDRESS",
            help="parse on a Dask cluster: its scheduler (tcp://host:8786), or 'local' for a "
            "temporary cluster of --workers processes; the load stays in this process; needs the "
            "dask extra and Prefect (or NEWSFLOW_DASK_ADDRESS)",
            meaning="parse on a Dask cluster: its scheduler (`tcp://host:8786`), or `local` for a "
            "LocalCluster of `workers` processes, through Prefect's DaskTaskRunner; the load stays "
            "in the run's process",
            default_text="none (local worker processes)",
        ),
    )

    profile: str = field(
        default="default",
        metadata=declare(
            metavar="NAME|PATH",
            help="how the sources' front matter maps to the contract: default, hugo, jekyll, blog "
            "or the path of a profile file (docs/profiles.md; or NEWSFLOW_PROFILE)",
            meaning="the source profile: `default` (the news-feed contract), `hugo`, `jekyll`, "
            "`blog`, or the path of a profile file (see docs/profiles.md)",
            default_text="`default`",
        ),
    )
    base_url: str | None = field(
        default=None,
        metadata=declare(
            metavar="URL",
            help="the site's address: relative URLs and URLs derived from file paths are "
            "resolved against it, and it names the provider (or NEWSFLOW_BASE_URL)",
            meaning="the site's address (`https://example.org/`) for a profile: relative and "
            "derived URLs are resolved against it; its host is the provider's domain",
            default_text="none",
        ),
    )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def parameters(self, *, absolute: bool = False, recorded: bool = False) -> dict[str, Any]:
        """Every setting as a plain (JSON) value by name: the keyword arguments of the flow
        ``ingest``. ``absolute`` makes paths absolute; ``recorded`` keeps only the settings
        stored in ``etl.run.parameters``."""
        return {
            name: _plain(getattr(self, name), absolute)
            for name, declared in declared_settings().items()
            if declared.recorded or not recorded
        }


def declared_settings() -> dict[str, Setting]:
    """Every declared setting by field name, in declaration order."""
    return {f.name: f.metadata["setting"] for f in fields(Settings) if "setting" in f.metadata}


def setting_types() -> dict[str, Any]:
    """The type of every declared setting."""
    hints = typing.get_type_hints(Settings)
    return {name: hints[name] for name in declared_settings()}


def key_of(name: str) -> str:
    """The stem of a setting's flag and variable: ``sources`` -> ``source``."""
    return declared_settings()[name].key or name


def flag_of(name: str) -> str:
    """``batch_size`` -> ``--batch-size``."""
    return "--" + key_of(name).replace("_", "-")


def env_of(name: str) -> str:
    """``batch_size`` -> ``NEWSFLOW_BATCH_SIZE``."""
    return ENV_PREFIX + key_of(name).upper()


def default_of(name: str) -> Any:
    """The default value of a setting."""
    return getattr(Settings(), name)


def _plain(value: Any, absolute: bool) -> Any:
    if isinstance(value, tuple):
        return [_plain(v, absolute) for v in value]
    if isinstance(value, Path):
        return str(value.absolute() if absolute else value)
    return value


def from_text(kind: Any, text: str) -> Any:
    """A value of type ``kind`` from its text; ValueError when it is not one."""
    if kind == tuple[Path, ...]:
        return tuple(Path(p) for p in text.split(os.pathsep) if p)
    if kind is Path:
        return Path(text)
    if kind is bool:
        if text.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(f"not a yes/no value: {text!r} (use one of {', '.join(TRUE_WORDS)}, "
                             f"or {', '.join(FALSE_WORDS)})")  # fmt: skip
        return text.strip().lower() in TRUE_WORDS
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None
    return text


def from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides for :func:`load_settings` from plain values by setting name (parsed flags or
    flow parameters); None, False and empty paths mean "not given". Every declared setting must
    be present: a consumer that forgets one fails here."""
    types = setting_types()
    if set(values) != set(types):
        wrong = sorted(set(values) ^ set(types))
        raise TypeError(f"settings missing or unknown: {', '.join(wrong)}")
    return {name: _typed(kind, values[name]) for name, kind in types.items()}


def _typed(kind: Any, value: Any) -> Any:
    if value is None or value is False:
        return None
    if kind == tuple[Path, ...]:
        return tuple(Path(v) for v in value) if value else None
    if kind is Path:
        return Path(value) if value else None
    return value


def from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings given by ``NEWSFLOW_*`` variables (empty ones are ignored)."""
    found: dict[str, Any] = {}
    for name, kind in setting_types().items():
        variable = env_of(name)
        if env.get(variable):
            try:
                found[name] = from_text(kind, env[variable])
                check(name, found[name])
            except ValueError as exc:
                raise ValueError(f"{variable}: {exc}") from None
    return found


def check(name: str, value: Any) -> None:
    """ValueError when ``value`` is below the setting's minimum."""
    minimum = declared_settings()[name].minimum
    if minimum is not None and value is not None and not value >= minimum:  # NaN too
        raise ValueError(f"{name.replace('_', ' ')} must be >= {minimum:g}, got {value}")


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Defaults, then ``NEWSFLOW_*`` environment variables, then explicit overrides (flags).

    Every value is checked against its setting's minimum (an error names the variable or the
    flag); ``workers`` above :func:`available_cores` is clamped to them (docs/memory.md)."""
    env = dict(os.environ if env is None else env)
    settings = Settings().with_overrides(**from_env(env)).with_overrides(**overrides)
    for name in declared_settings():
        try:
            check(name, getattr(settings, name))
        except ValueError as exc:
            raise ValueError(f"{flag_of(name)}: {exc}") from None
    return replace(settings, workers=min(settings.workers, available_cores()))


def render_markdown() -> str:
    """docs/settings.md: every setting with its flag, variable, default and meaning."""
    lines = [
        "# Settings",
        "",
        "<!-- generated from flows/settings.py: python -m flows.settings > docs/settings.md -->",
        "",
        "Every setting of `newsflow run` and `newsflow serve`, and parameter of the Prefect flow",
        "`ingest`. A flag wins over the variable, the variable over the default. Yes/no",
        f"variables take {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}.",
        "",
        "| setting | flag | env var | default | meaning |",
        "|---|---|---|---|---|",
    ]
    lines.extend(_row(name, declared) for name, declared in declared_settings().items())
    return "\n".join(lines) + "\n"


def _row(name: str, declared: Setting) -> str:
    flag = flag_of(name)
    if setting_types()[name] is not bool:
        flag += " " + (declared.metavar or name.upper())
    flag = f"`{flag}`"
    value = default_of(name)
    default = declared.default_text or (
        ("off", "on")[value] if value in (False, True) and isinstance(value, bool) else f"`{value}`"
    )
    return f"| `{name}` | {flag} | `{env_of(name)}` | {default} | {declared.meaning} |"


if __name__ == "__main__":
    print(render_markdown(), end="")
