"""newsflow: article front matter -> normalized DuckDB warehouse.

The stage functions are plain Python and importable from a notebook; ``flows.pipeline`` is the
only module that imports Prefect.

For analysis, ``from flows import Warehouse`` (read-only, one consistent run; see
:mod:`flows.analysis.warehouse`), ``open_warehouse`` and ``read_relation``. Imported on first
use, so ``import flows`` stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["QueryError", "Warehouse", "__version__", "open_warehouse", "read_relation"]

_LAZY = {
    "Warehouse": "flows.analysis.warehouse",
    "QueryError": "flows.analysis.warehouse",
    "open_warehouse": "flows.analysis.warehouse",
    "read_relation": "flows.analysis.warehouse",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flows' has no attribute {name!r}")
