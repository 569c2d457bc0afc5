"""flows/normalize/batches.py: worker chunks cut by files and by bytes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from flows.load.ledger import WorkList
from flows.normalize.batches import CHUNK_BYTES, chunk_bounds, stage_files
from flows.tools.synth import write_big_corpus


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
