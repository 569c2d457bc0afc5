"""flows/normalize/batches.py: a worker that dies parsing a file costs that file, not the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.ingest import run_ingest
from flows.normalize.batches import read_batch, stage_files
from flows.settings import load_settings
from tests.conftest import query

CRASH = "CRASH-THE-PARSER"


def _write(folder: Path, names: list[str], crash: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        marker = f"# {CRASH}\n" if name == crash else ""
        (folder / name).write_text(
            f"---\n{marker}title: {name}\nwebUrl: https://crash.example/{name}\n---\nbody\n"
        )
        paths.append((folder / name).as_posix())
    return paths


@pytest.mark.slow
def test_a_worker_killed_by_a_signal_quarantines_its_file_and_the_chunk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spawned workers read the hook at import: the one parsing d.md kills itself (SIGSEGV).
    monkeypatch.setenv("NEWSFLOW_TEST_CRASH_ON", CRASH)
    names = ["a.md", "b.md", "c.md", "d.md", "e.md", "f.md", "g.md"]
    paths = _write(tmp_path / "src", names, crash="d.md")
    summaries = list(
        stage_files(
            [(p, None) for p in paths], tmp_path / "staging", workers=2, batch_size=2,
            max_file_bytes=10_000,
        )
    )  # fmt: skip
    assert [(s.files, s.documents, s.rejected) for s in summaries] == [
        (2, 2, 0), (2, 1, 1), (2, 2, 0), (1, 1, 0)
    ]  # fmt: skip
    tables = [read_batch(s.batch_dir) for s in summaries]
    loaded = [p for t in tables for p in t["article"]["source_path"].to_pylist()]
    assert loaded == [p for p in paths if not p.endswith("d.md")]
    [rejection] = tables[1]["rejection"].to_pylist()
    assert {k: rejection[k] for k in ("path", "stage", "kind", "reason", "line", "col")} == {
        "path": paths[3],
        "stage": "extract",
        "kind": "parser_crash",
        "reason": "the parser crashed on this file (its worker process: killed by SIGSEGV)",
        "line": None,
        "col": None,
    }
    assert rejection["excerpt"].startswith(f"---\n# {CRASH}\n")
    assert tables[1]["file"].to_pylist()[1]["outcome"] == "rejected"
    assert not list((tmp_path / "staging").glob("*.cursor"))


@pytest.mark.slow
def test_a_run_whose_worker_crashes_quarantines_the_file_and_publishes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSFLOW_TEST_CRASH_ON", CRASH)
    names = [f"{c}.md" for c in "abcdefghij"]
    _write(tmp_path / "src", names, crash="h.md")
    settings = load_settings(
        env={}, sources=(tmp_path / "src",), warehouse=tmp_path / "c.duckdb", workers=2,
        batch_size=3,
    )  # fmt: skip
    summary = run_ingest(settings)
    assert (summary.status, summary.files_loaded, summary.files_rejected) == ("success", 9, 1)
    assert query(settings.warehouse, "select path, kind, line, col, reason from etl.rejection") == [
        {
            "path": (tmp_path / "src" / "h.md").resolve().as_posix(),
            "kind": "parser_crash",
            "line": None,
            "col": None,
            "reason": "the parser crashed on this file (its worker process: killed by SIGSEGV)",
        }
    ]
    assert query(settings.warehouse, "select title from article order by 1") == [
        {"title": n} for n in names if n != "h.md"
    ]
