"""A run reports its progress through ``on_progress``: once per staged batch and once per load
group, with exact counts (the shells show it: tests/cli/test_progress.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flows.ingest import Progress, run_ingest
from flows.settings import Settings
from flows.tools.synth import write_corpus


def test_a_run_reports_batches_parsed_and_groups_loaded(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    write_corpus(tmp_path / "src", 30)
    events: list[Progress] = []
    summary = run_ingest(make_settings(tmp_path / "src", batch_size=10), on_progress=events.append)
    assert summary.status == "success"
    assert [(e.event, e.total, e.parsed, e.loaded) for e in events] == [
        ("started", 30, 0, 0),
        ("parsed", 30, 10, 0),
        ("loaded", 30, 10, 10),
        ("parsed", 30, 20, 10),
        ("loaded", 30, 20, 20),
        ("parsed", 30, 30, 20),
        ("loaded", 30, 30, 30),
        ("done", 30, 30, 30),
    ]
    assert events[2].line().startswith("loaded 10 of 30 files (33%) in ")
    # An unchanged re-run reads nothing: it reports the start and the end only.
    again: list[Progress] = []
    run_ingest(make_settings(tmp_path / "src", batch_size=10), on_progress=again.append)
    assert [(e.event, e.total, e.parsed, e.loaded) for e in again] == [
        ("started", 0, 0, 0),
        ("done", 0, 0, 0),
    ]


def test_the_line_of_a_group() -> None:
    progress = Progress("loaded", 20_000, 9_000, 8_000, 6.14)
    assert progress.line() == "loaded 8,000 of 20,000 files (40%) in 6.1 s"
    assert Progress("loaded", 0, 0, 0, 0.0).line() == "loaded 0 of 0 files (100%) in 0.0 s"
