"""flows/normalize/batches.py: worker chunks cut by files and bytes; a worker that dies parsing a
file costs that file, not the run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from flows.ingest import run_ingest
from flows.load.ledger import WorkList
from flows.normalize.batches import CHUNK_BYTES, chunk_bounds, read_batch, stage_files
from flows.settings import load_settings
from flows.tools.synth import write_big_corpus
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


def test_chunks_are_cut_by_bytes_as_well_as_by_files(tmp_path: Path) -> None:
    sizes = [10, 10, 10, 25, 5, 5, 40, 1]
    files = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"{i}.md"
        path.write_bytes(b"x" * size)
        files.append((str(path), None))
    # by os.stat (a plain list): at most 30 bytes, a larger file alone
    assert chunk_bounds(files, 1000, 30) == [(0, 3), (3, 5), (5, 6), (6, 7), (7, 8)]
    # by files first when they are small
    assert chunk_bounds(files, 2, 1000) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    # the ledger's work list carries the discovered sizes: no stat (the files may be gone)
    work = WorkList(pa.table({
        "path": [p for p, _ in files], "sha256": pa.nulls(8, pa.string()), "size": sizes,
    }))  # fmt: skip
    for path, _ in files:
        Path(path).unlink()
    assert chunk_bounds(work, 1000, 30) == [(0, 3), (3, 5), (5, 6), (6, 7), (7, 8)]
    assert chunk_bounds([], 1000, 30) == []


def test_files_at_the_size_limit_are_parsed_a_few_at_a_time(tmp_path: Path) -> None:
    """Five 4 MiB documents are not one chunk (of up to 1,000 files): CHUNK_BYTES at most."""
    paths = write_big_corpus(tmp_path / "src", 5, 4 * 2**20)
    work = [(str(p), None) for p in paths]
    staged = list(
        stage_files(work, tmp_path / "staging", workers=1, batch_size=10_000,
                    max_file_bytes=4 * 2**20)
    )  # fmt: skip
    assert [s.files for s in staged] == [4, 1]  # 4 x 4 MiB = CHUNK_BYTES
    assert CHUNK_BYTES == 16 * 2**20
    assert all(s.documents == s.files and s.rejected == 0 for s in staged)
    assert all(s.bytes > 3 * 2**20 * s.files for s in staged)
