"""newsflow: article front matter -> normalized DuckDB warehouse.

The stage functions are plain Python and importable from a notebook; ``flows.pipeline`` is the
only module that imports Prefect.

For analysis, ``from flows import Warehouse`` (read-only, one consistent run; see
:mod:`flows.analysis`), ``open_warehouse`` and ``read_relation``. They are imported on first
use, so ``import flows`` stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["QueryError", "Warehouse", "__version__", "open_warehouse", "read_relation"]

_LAZY = {
    "Warehouse": "flows.analysis",
    "QueryError": "flows.analysis",
    "open_warehouse": "flows.warehouse",
    "read_relation": "flows.warehouse",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flows' has no attribute {name!r}")
