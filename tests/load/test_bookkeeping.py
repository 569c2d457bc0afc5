"""What a run's summary shows from etl: every rejection kind, the rarest first."""

from __future__ import annotations

from pathlib import Path

from flows.db import connect, ensure_schema
from flows.load.bookkeeping import run_findings
from tests.conftest import TESTS


def test_every_kind_is_counted_and_the_rarest_come_first(tmp_path: Path) -> None:
    conn = connect(tmp_path / "w.duckdb")
    ensure_schema(conn, TESTS.parent / "sql")
    kinds = {"no_url": 12, "no_front_matter": 3, "binary": 2, "too_large": 2, "not_utf8": 1,
             "empty_file": 1, "yaml_syntax": 1}  # fmt: skip
    rows = [(f"/src/{kind}/{i:02}.md", kind) for kind, n in kinds.items() for i in range(n)]
    conn.executemany(
        "insert into etl.rejection (path, run_id, first_run_id, stage, kind, reason) "
        "values (?, 'r1', 'r1', 'extract', ?, 'why')",
        rows,
    )
    conn.execute(
        "insert into etl.rejection values ('/other.md', 'r0', 'r0', null, 'extract', 'binary', "
        "'an earlier run', null, null, null)"
    )
    found = run_findings(conn, "r1", shown=10)
    conn.close()
    # all seven kinds (no cut at five), most frequent first, ties by name
    assert [(r["kind"], r["files"]) for r in found["top_reasons"]] == [
        ("no_url", 12), ("no_front_matter", 3), ("binary", 2), ("too_large", 2),
        ("empty_file", 1), ("not_utf8", 1), ("yaml_syntax", 1),
    ]  # fmt: skip
    # the first ten: the rarest kinds first, so the one yaml_syntax is not buried under no_url
    assert [(r["kind"], r["path"]) for r in found["rejections"]] == [
        ("empty_file", "/src/empty_file/00.md"), ("not_utf8", "/src/not_utf8/00.md"),
        ("yaml_syntax", "/src/yaml_syntax/00.md"), ("binary", "/src/binary/00.md"),
        ("binary", "/src/binary/01.md"), ("too_large", "/src/too_large/00.md"),
        ("too_large", "/src/too_large/01.md"), ("no_front_matter", "/src/no_front_matter/00.md"),
        ("no_front_matter", "/src/no_front_matter/01.md"),
        ("no_front_matter", "/src/no_front_matter/02.md"),
    ]  # fmt: skip
