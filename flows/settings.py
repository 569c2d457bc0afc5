"""One frozen Settings object: repo-relative defaults; NEWSFLOW_* env and flags override."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT / "seeds" / "articles"
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "news.duckdb"
SQL_DIR = REPO_ROOT / "sql"
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024
DEFAULT_BATCH_SIZE = 10_000


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know; build with :func:`load_settings`."""

    sources: tuple[Path, ...] = (DEFAULT_SOURCE,)
    warehouse: Path = DEFAULT_WAREHOUSE
    sql_dir: Path = SQL_DIR
    workers: int = field(default_factory=_default_workers)
    batch_size: int = DEFAULT_BATCH_SIZE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    strict: bool = False
    full_refresh: bool = False
    prune: bool = False
    lock_timeout: float = 30.0
    checkpoint_mb: int = 128
    duckdb_memory_mb: int = 256
    # Parse on a Dask cluster (``tcp://host:8786``, or ``local`` for a LocalCluster of
    # ``workers`` processes) through Prefect's DaskTaskRunner; None: local worker processes.
    dask_address: str | None = None

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Defaults, then ``NEWSFLOW_*`` environment variables, then explicit overrides (flags)."""
    env = dict(os.environ if env is None else env)
    base = Settings()
    from_env: dict[str, object] = {}
    if env.get("NEWSFLOW_WAREHOUSE"):
        from_env["warehouse"] = Path(env["NEWSFLOW_WAREHOUSE"])
    if env.get("NEWSFLOW_SOURCE"):
        from_env["sources"] = tuple(Path(p) for p in env["NEWSFLOW_SOURCE"].split(os.pathsep) if p)
    if env.get("NEWSFLOW_WORKERS"):
        from_env["workers"] = int(env["NEWSFLOW_WORKERS"])
    if env.get("NEWSFLOW_BATCH_SIZE"):
        from_env["batch_size"] = int(env["NEWSFLOW_BATCH_SIZE"])
    if env.get("NEWSFLOW_LOCK_TIMEOUT"):
        from_env["lock_timeout"] = float(env["NEWSFLOW_LOCK_TIMEOUT"])
    if env.get("NEWSFLOW_MAX_FILE_BYTES"):
        from_env["max_file_bytes"] = int(env["NEWSFLOW_MAX_FILE_BYTES"])
    if env.get("NEWSFLOW_DASK_ADDRESS"):
        from_env["dask_address"] = env["NEWSFLOW_DASK_ADDRESS"]
    settings = base.with_overrides(**from_env).with_overrides(**overrides)
    if settings.workers < 1:
        raise ValueError(f"workers must be >= 1, got {settings.workers}")
    if settings.batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {settings.batch_size}")
    return settings
