"""newsflow's Prefect defaults, as environment variables: set before Prefect is imported.

Imports nothing from Prefect (it reads its settings at import), so the CLI and ``newsflow bench``
use it before they start a flow.
"""

from __future__ import annotations

import os

# Defaults for Prefect settings that newsflow sets unless the user set them (see README, Prefect).
PREFECT_DEFAULTS = {
    # Telemetry: offline it logs "Failed to send telemetry" errors, and the temporary API's
    # writes of its telemetry row show up as SQLite "database is locked" errors. The server
    # setting also turns the client's (SDK) telemetry off when no server URL is set; against a
    # server the client asks the server, so DO_NOT_TRACK (Prefect's documented opt-out, read by
    # the client only: docs.prefect.io/v3/concepts/telemetry) turns it off there too. A server
    # the user starts is quiet with `prefect server start --analytics-off` (QUIET_SERVER).
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # The temporary API takes 6-10 s to start on 2 busy cores, over 20 s (Prefect's default
    # timeout) when several start at once: wait longer instead of failing the run.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


# The command that starts a Prefect server without telemetry (and its ERROR lines offline).
QUIET_SERVER = ".venv/bin/prefect server start --analytics-off"


def prefect_defaults() -> None:
    """Set newsflow's Prefect defaults in this process's environment (never overriding a value
    the user set). Call before importing Prefect: it reads its settings at import."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
