"""newsflow: article front matter -> normalized DuckDB warehouse.

The stage functions are plain Python and importable from a notebook; ``flows.pipeline`` is the
only module that imports Prefect.
"""

__version__ = "0.1.0"
