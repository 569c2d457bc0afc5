"""newsflow's Prefect defaults, as environment variables: set before Prefect is imported.

Imports nothing from Prefect (it reads its settings at import), so the CLI and ``newsflow bench``
use it before they start a flow.
"""

from __future__ import annotations

import os

# Defaults for Prefect settings that newsflow sets unless the user set them (see README, Prefect).
PREFECT_DEFAULTS = {
    # Telemetry: offline it logs "Failed to send telemetry" errors, and the temporary API's
    # writes of its telemetry row show up as SQLite "database is locked" errors.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary API takes 6-10 s to start on 2 busy cores, over 20 s (Prefect's default
    # timeout) when several start at once: wait longer instead of failing the run.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def prefect_defaults() -> None:
    """Set newsflow's Prefect defaults in this process's environment (never overriding a value
    the user set). Call before importing Prefect: it reads its settings at import."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
