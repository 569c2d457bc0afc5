"""``newsflow serve`` and ``newsflow status``: scheduled runs and their history.

``serve`` serves the Prefect flow ``ingest`` as a deployment (Prefect's own ``serve``) on a cron or
interval schedule, with a deployment concurrency limit of 1. ``status`` prints the last runs from
``etl.run`` and needs no Prefect server.

Exit codes: 0 success, 1 failure (no server, no warehouse), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import zoneinfo
from pathlib import Path
from typing import Any

from flows.cli.args import add_ingest_options, ingest_settings
from flows.cli.args import add_warehouse as _add_warehouse
from flows.cli.args import count_int as _count
from flows.cli.args import positive_int as _positive
from flows.cli.exits import EXIT_FAILED, EXIT_OK
from flows.paths import shown as _shown
from flows.pipeline import env as prefect_env
from flows.settings import load_settings
from flows.text import aligned

SERVE_EXAMPLE = """\
examples:
  newsflow serve --cron "*/15 * * * *" --source seeds/articles --warehouse warehouse/news.duckdb
  newsflow serve --interval 900 --strict
  newsflow serve                                 # no schedule: runs only when triggered
  newsflow serve --interval 60 --notify-url http://127.0.0.1:9000/alerts --on-stop finish

the Prefect server: PREFECT_API_URL if set (a team's server, Prefect Cloud), else a running
`newsflow server`, else one started here for the time of serve (UI URL printed; its database
in $NEWSFLOW_HOME/prefect, default ~/.newsflow/prefect). See docs/operations.md#scheduling.
trigger a run by hand: .venv/bin/prefect deployment run ingest/newsflow
"""

STATUS_EXAMPLE = """\
example:
  newsflow status --warehouse out/x.duckdb --limit 5
"""


def register(commands: Any) -> None:
    """Add ``serve`` and ``status`` to the ``newsflow`` parser."""
    serve = commands.add_parser(
        "serve",
        help="serve the ingest flow on a schedule (cron or interval) as a Prefect deployment",
        description="Register the Prefect deployment ingest/NAME with the given schedule and "
        "ingest parameters, then run its flow runs in this process until stopped (Ctrl-C). "
        "Runs never overlap: the deployment's concurrency limit is 1 (a run due while another "
        "runs waits for it, or is cancelled with --on-overlap cancel), and the warehouse lock "
        "stays the last line. Stopping (Ctrl-C, SIGTERM) pauses the schedule and cancels the "
        "waiting runs; serving again resumes it.",
        epilog=SERVE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    when = serve.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help='cron schedule, e.g. "*/15 * * * *"')
    when.add_argument(
        "--interval", type=_positive, metavar="SECONDS", help="run every SECONDS seconds"
    )
    serve.add_argument(
        "--timezone", metavar="TZ", help="IANA time zone of the schedule (default: UTC)"
    )
    serve.add_argument(
        "--name", default="newsflow", help="deployment name (default: newsflow -> ingest/newsflow)"
    )
    serve.add_argument(
        "--on-overlap",
        choices=("enqueue", "cancel"),
        default="enqueue",
        help="a run due while another runs: wait for it (default) or be cancelled",
    )
    serve.add_argument(
        "--lock-retries",
        type=_count,
        default=3,
        metavar="N",
        help="retry a warehouse held by another writer N times, after 10, 20, 40 s (default 3)",
    )
    serve.add_argument(
        "--on-stop",
        choices=("cancel", "finish"),
        default="cancel",
        help="on Ctrl-C or SIGTERM, the running flow run: cancel it (default) or let it finish "
        "(for up to --stop-timeout seconds); waiting runs are always cancelled",
    )
    serve.add_argument(
        "--stop-timeout",
        type=_positive,
        default=300,
        metavar="SECONDS",
        help="with --on-stop finish: cancel the running run after SECONDS (default 300)",
    )
    serve.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST a JSON alert (run, state, failed stage) to URL when a run fails or crashes",
    )
    add_ingest_options(serve, "serve")
    serve.set_defaults(handler=cmd_serve)
    register_server(commands)

    status = commands.add_parser(
        "status",
        help="print the last runs of a warehouse from etl.run (no Prefect server needed)",
        description="Print the last runs recorded in etl.run, newest first: id, status, start "
        "(UTC), duration, files seen/loaded/rejected/skipped/ignored and the error of a failed "
        "run. Failed runs publish nothing, so the history is read from the writer's working "
        "copy; while a run is in progress, from the published warehouse. 'interrupted' marks a "
        "run that was killed before it could record its end.",
        epilog=STATUS_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse(status)
    status.add_argument(
        "--limit", type=_positive, default=10, metavar="N", help="runs to show (default 10)"
    )
    status.set_defaults(handler=cmd_status)


# -- serve ---------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = ingest_settings(args)
    missing = [str(s) for s in settings.sources if not Path(s).exists()]
    if missing:
        raise ValueError(f"source not found: {', '.join(missing)}")
    if args.timezone:
        try:
            zoneinfo.ZoneInfo(args.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {args.timezone!r}") from None
    prefect_env.prefect_defaults()
    if args.notify_url:
        if not args.notify_url.startswith(("http://", "https://")):
            raise ValueError(f"--notify-url must be an http(s) URL: {args.notify_url!r}")
        os.environ["NEWSFLOW_NOTIFY_URL"] = args.notify_url  # read by the runs' failure hook
    from flows.pipeline import flow as pipeline
    from flows.pipeline import server

    parameters = pipeline.deployment_parameters(settings, args.lock_retries)
    deployment = pipeline.build_deployment(
        parameters,
        name=args.name,
        cron=args.cron,
        interval=args.interval,
        timezone=args.timezone,
        overlap=args.on_overlap,
    )
    with server.prefect_api("managed") as (_, where):
        api = pipeline.require_api()
        _serve(args, parameters, deployment, pipeline, api, where)
    return EXIT_OK


def _serve(
    args: argparse.Namespace, parameters: dict, deployment: Any, pipeline: Any, api: str, where: str
) -> None:
    if args.cron:
        schedule = f"cron {args.cron!r}"
    elif args.interval:
        schedule = f"every {args.interval} s"
    else:
        schedule = "no schedule (triggered runs only)"
    if args.timezone and (args.cron or args.interval):
        schedule += f" ({args.timezone})"
    print(f"serving ingest/{args.name}: {schedule}; one run at a time (on overlap: "
          f"{args.on_overlap}); Prefect API {api}")  # fmt: skip
    print(f"  sources: {', '.join(parameters['sources'])}")
    print(f"  warehouse: {parameters['warehouse']}")
    if where != "PREFECT_API_URL":  # a server newsflow started or found: its UI is local
        print(f"  Prefect UI: {api.removesuffix('/api')} ({where})")
    if args.notify_url:
        print(f"  alerts: a failed or crashed run POSTs JSON to {args.notify_url}")
    print(f"  trigger a run: .venv/bin/prefect deployment run 'ingest/{args.name}'; stop: Ctrl-C")
    sys.stdout.flush()
    pipeline.serve_deployment(deployment, args.on_stop, args.stop_timeout)


# -- status --------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from flows.analysis.runs import duration, read_runs

    settings = load_settings(warehouse=args.warehouse)
    history = read_runs(settings.warehouse, limit=args.limit)  # missing: WarehouseNotFound
    for note in history.notes:
        print(f"note: {note}", file=sys.stderr)
    where = f" ({history.source})" if history.source else ""
    if not history.runs:
        print(f"no runs recorded in {_shown(settings.warehouse)}{where}")
        return EXIT_OK
    print(f"last {len(history.runs)} run(s) of {_shown(settings.warehouse)}{where}, newest first:")
    header = ["started (UTC)", "status", "seconds", "seen", "loaded", "rejected", "skipped",
              "ignored", "run id", "error"]  # fmt: skip
    rows = [
        [
            _utc(run["started_at"]),
            run["status"],
            _seconds(duration(run)),
            *(_number(run[f"files_{k}"]) for k in ("seen", "loaded", "rejected", "skipped")),
            _number(run["files_ignored"]),
            run["run_id"],
            run["error"] or "",
        ]
        for run in history.runs
    ]
    for line in aligned([header, *rows], right={2, 3, 4, 5, 6, 7}):
        print(line)
    return EXIT_OK


def _utc(value: Any) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _number(value: Any) -> str:
    return "-" if value is None else str(value)


# -- server ----------------------------------------------------------------------------------------

SERVER_EXAMPLE = """\
examples:
  newsflow server start       # a Prefect server on a free loopback port, UI and history kept
  newsflow run                # uses it: no temporary API to start
  newsflow server status
  newsflow server stop
state: $NEWSFLOW_HOME (default ~/.newsflow): server.json, prefect/prefect.db, the server's log
"""


def register_server(commands: Any) -> None:
    """Add ``server start|stop|status`` to the ``newsflow`` parser."""
    parser = commands.add_parser(
        "server",
        help="start, stop or check newsflow's own Prefect server (runs find it; no env needed)",
        description="A Prefect server in the background on a free loopback port, its database "
        "under $NEWSFLOW_HOME/prefect (default ~/.newsflow/prefect). While it is healthy, "
        "`newsflow run` and `newsflow serve` without PREFECT_API_URL use it instead of starting "
        "a server of their own. An explicit PREFECT_API_URL always wins.",
        epilog=SERVER_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.set_defaults(handler=cmd_server)


def cmd_server(args: argparse.Namespace) -> int:
    from flows.pipeline import server

    home = server.newsflow_home()
    found = server.running(home)
    if args.action == "start":
        if found is None:
            server.stop_detached(home)  # a stale state file, or a server that stopped answering
            prefect_env.prefect_defaults()
            found = server.start("detached", home)
            print(f"started newsflow server (pid {found.pid}): UI {found.ui}, API {found.url}")
        else:
            print(f"newsflow server already running (pid {found.pid}): UI {found.ui}")
        print(f"  state: {_shown(home / server.STATE_FILE)}; log: {_shown(found.log)}")
        return EXIT_OK
    if args.action == "stop":
        stopped = server.stop_detached(home)
        print(f"stopped newsflow server (pid {stopped.pid})" if stopped else "no newsflow server")
        return EXIT_OK
    if found is None:
        state = server.read_state(home)
        note = f" (stale state: pid {state['pid']} is gone or not answering)" if state else ""
        print(f"no newsflow server running{note}")
        return EXIT_FAILED
    print(f"newsflow server running (pid {found.pid}): UI {found.ui}, API {found.url}, healthy")
    return EXIT_OK
