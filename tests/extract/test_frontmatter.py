"""Extract: discovery, front-matter splitting, encodings, and every way a file can be bad."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract.discover import discover, discover_files
from flows.extract.frontmatter import SafeLoader, parse_document, read_document, split_front_matter
from flows.records import FrontMatter, Rejection, StageFailed
from tests.conftest import CORPUS


def test_uses_the_c_safe_loader_and_never_an_unsafe_one() -> None:
    assert issubclass(SafeLoader, yaml.CSafeLoader)
    assert not issubclass(SafeLoader, yaml.FullLoader | yaml.UnsafeLoader | yaml.Loader)


def test_discover_is_recursive_sorted_and_filters_suffixes(tmp_path: Path) -> None:
    for rel in ["b.md", "a.txt", "sub/c.markdown", "sub/d.MD", "e.json", ".hidden.txt",
                ".git/x.txt", "sub/deeper/f.txt"]:  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n---\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discover_files([tmp_path, tmp_path])]
    assert found == ["a.txt", "b.md", "sub/c.markdown", "sub/d.MD", "sub/deeper/f.txt"]
    # e.json, .hidden.txt and .git/x.txt: counted (one source) or kept and counted once (two)
    assert discover([tmp_path]).ignored == discover([tmp_path, tmp_path]).ignored == 3


def test_discover_gives_each_file_once_with_its_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small buffers, so the columns are built from several of them.
    monkeypatch.setattr("flows.extract.discover._Columns._BATCH", 3)
    names = ["z.md", "é.md", "a b.txt", "sub/ü/x.md", "sub/y.txt", "sub/Z.md", ".hid/h.md"]
    for i, rel in enumerate(names):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("-" * i)
        os.utime(path, ns=(1, 1_000 + i))
    (tmp_path / "notes.json").write_text("{}")
    # The folder twice, one of its files on its own, and a file in a hidden folder named on
    # its own: listed once each; the hidden one is listed, not ignored.
    found = discover([tmp_path, tmp_path, tmp_path / "sub/y.txt", tmp_path / ".hid/h.md"])
    expected = sorted(str(tmp_path / rel) for rel in names)
    assert found.paths == expected and len(found) == 7
    assert found.table.column_names == ["path", "size", "mtime_ns"]
    index = {str(tmp_path / rel): i for i, rel in enumerate(names)}
    assert found.table["size"].to_pylist() == [index[p] for p in expected]
    assert found.table["mtime_ns"].to_pylist() == [1_000 + index[p] for p in expected]
    assert (found.ignored, found.unnamed) == (1, [])


@pytest.mark.slow
def test_discover_does_not_make_pyarrow_import_pandas() -> None:
    # Importing pandas costs 0.35-0.5 s; discover runs before any worker starts, so it must
    # not pay it (pyarrow imports pandas on its first conversion of Python lists).
    script = (
        "import sys; from flows.extract.discover import discover; "
        f"found = discover([{str(CORPUS)!r}]); "
        "assert len(found) == 9, len(found); "
        "assert 'pandas' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2])


def test_discover_accepts_single_files_and_rejects_missing_sources(tmp_path: Path) -> None:
    assert discover_files([CORPUS / "seed.txt"]) == [(CORPUS / "seed.txt").resolve()]
    with pytest.raises(StageFailed, match=r"source not found: .*nope"):
        discover_files([tmp_path / "nope"])


def test_fixture_corpus_discovery_skips_other_suffixes() -> None:
    names = [p.name for p in discover_files([CORPUS])]
    assert names == [
        "bom_crlf.md", "dashes_in_value.txt", "dup_early.txt", "dup_late.txt",
        "missing_close.txt", "no_url.md", "notes.txt", "seed.txt", "tab_indent.txt",
    ]  # fmt: skip


def test_bom_and_crlf_are_tolerated_and_body_kept() -> None:
    doc = read_document(CORPUS / "bom_crlf.md", 10_000)
    assert isinstance(doc, FrontMatter)
    assert doc.data["title"] == "BOM and CRLF"
    assert doc.data["publishedDateTime"] == dt.datetime(
        2021, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert doc.body == "First line of the body.\n\nSecond paragraph.\n"
    # The hash is of the bytes on disk, BOM and CRLF included.
    import hashlib

    assert doc.sha256 == hashlib.sha256((CORPUS / "bom_crlf.md").read_bytes()).hexdigest()


def test_dashes_inside_values_and_body_do_not_close_the_block() -> None:
    doc = read_document(CORPUS / "dashes_in_value.txt", 10_000)
    assert isinstance(doc, FrontMatter)
    assert doc.data["title"] == "Markets --- a dash-heavy title"
    assert doc.data["excerpt"] == "A quoted value with a line break --- continued, not a delimiter"
    assert doc.body == "Body text with a line of dashes:\n--- not a delimiter either\n"


def test_seed_document_has_no_body() -> None:
    doc = read_document(CORPUS / "seed.txt", 10_000)
    assert isinstance(doc, FrontMatter)
    assert doc.body is None
    assert sorted(doc.data) == sorted(
        ["category", "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl",
         "ampWebUrl", "cdnAmpWebUrl", "type", "quality", "heat", "published", "provider",
         "topics", "images", "related", "secured"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "kind", "reason", "line", "col"),
    [
        (b"", "empty_file", "file is empty", 1, 1),
        (b"\xef\xbb\xbf \n\n", "empty_file", "file is empty", 1, 1),
        (b"title: x\n", "no_front_matter", "no front matter: the first line must be '---' (YAML), '+++' (TOML) or start with '{' (JSON)", 1, 1),
        (b"---", "unclosed_front_matter", "front matter is not closed: no closing '---' or '...' line", 1, 1),
        (b"---\ntitle: x\nbody\n", "unclosed_front_matter",
         "front matter is not closed: no closing '---' or '...' line", 3, 1),
        (b"---\n---\n", "empty_front_matter", "front matter is empty", 2, 1),
        (b"---\n- a\n- b\n---\n", "not_a_mapping", "front matter is a list, not a mapping of keys", 2, 1),
        (b"---\njust text\n---\n", "not_a_mapping", "front matter is a str, not a mapping of keys", 2, 1),
        (
            b"---\ntitle: ok\nprovider:\n\tname: x\n---\n",
            "yaml_syntax",
            "could not parse front matter: found character that cannot start any token "
            "(a tab: YAML is indented with spaces)",
            4,
            1,
        ),
        (b'---\ntitle: "unterminated\n---\n', "yaml_syntax",
         "could not parse front matter: found unexpected end of stream at line 3, column 1, "
         "inside the quoted text opened here", 2, 8),
        # the line that opened the bracket, not where the parser gave up
        (b"---\nwebUrl: https://x.org/a\ntopics: [a, b\ntitle: y\n---\n", "yaml_syntax",
         "could not parse front matter: did not find expected ',' or ']' at line 4, column 6, "
         "inside the '[' list opened here", 3, 9),
        (b"---\ntopics: [a, b,\n---\n", "yaml_syntax",
         "could not parse front matter: did not find expected node content at line 3, column 1, "
         "inside the '[' list opened here", 2, 9),
        (b"---\ntopics: [a, {b: [1,\n]\n---\n", "yaml_syntax",
         "could not parse front matter: did not find expected ',' or '}' at line 4, column 1, "
         "inside the '{' mapping opened here", 2, 13),
        (b"---\na: 1\n\xff\xfe\n---\n", "not_utf8",
         "file is not valid UTF-8 (byte 0xff); save it as UTF-8", 3, 1),
        (b"---\na: \x00\n---\n", "binary", "file looks binary (contains NUL bytes)", 2, 4),
        (b"---\ntitle: a\ntitle: b\n---\n", "duplicate_key",
         "could not parse front matter: found duplicate key 'title'", 3, 1),
        (b"---\nprovider:\n  name: a\n  name: b\n---\n", "duplicate_key",
         "could not parse front matter: found duplicate key 'name'", 4, 3),
        (b"---\n2021: year\n---\n", "non_text_key",
         "could not parse front matter: found a key that is not text: 2021 (quote it)", 2, 1),
        (b"---\n? [a, b]\n: x\n---\n", "non_text_key",
         "could not parse front matter: found a list used as a key", 2, 3),
        (b"---\nwhen: 2021-02-30\n---\n", "yaml_value",
         "could not parse front matter: day is out of range for month in '2021-02-30'", 2, 7),
        (b"---\nx: &a [*a]\n---\n", "recursive_alias",
         "could not parse front matter: found an alias that refers to itself", 2, 4),
        (b"---\nx: " + b"[" * 60 + b"]" * 60 + b"\n---\n", "too_deep",
         "could not parse front matter: nesting is deeper than 50 levels", 2, 53),
    ],
)  # fmt: skip
def test_bad_documents_become_rejections_with_location(
    raw: bytes, kind: str, reason: str, line: int, col: int
) -> None:
    result = parse_document("x.txt", raw)
    assert isinstance(result, Rejection)
    assert (result.path, result.stage, result.kind, result.reason, result.line, result.col) == (
        "x.txt", "extract", kind, reason, line, col,
    )  # fmt: skip
    assert result.sha256 is not None


def test_python_object_tags_are_refused_not_constructed() -> None:
    raw = b"---\nx: !!python/object/apply:os.system ['echo pwned']\n---\n"
    result = parse_document("evil.txt", raw)
    assert isinstance(result, Rejection)
    assert result.reason.startswith(
        "could not parse front matter: could not determine a constructor"
    )
    assert (result.line, result.col) == (2, 4)


def test_oversized_and_unreadable_files(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"---\ntitle: x\n---\n" + b"y" * 100)
    result = read_document(big, 50)
    assert isinstance(result, Rejection)
    assert "larger than the limit of 50 bytes" in result.reason
    dangling = tmp_path / "gone.txt"
    os.symlink(tmp_path / "missing-target", dangling)
    result = read_document(dangling, 1000)
    assert isinstance(result, Rejection)
    assert result.reason == "could not read file: No such file or directory"


def test_split_front_matter_tolerates_trailing_blanks_on_delimiters() -> None:
    assert split_front_matter("---  \na: 1\n--- \nbody\n") == ("a: 1\n", "body\n")
    assert split_front_matter("---\na: 1\n---") == ("a: 1\n", None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_front_matter_or_rejection(raw: bytes) -> None:
    result = parse_document("fuzz.txt", raw)
    assert isinstance(result, FrontMatter | Rejection)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_after_an_opening_delimiter_never_crashes(text: str) -> None:
    result = parse_document("fuzz.txt", ("---\n" + text + "\n---\n").encode("utf-8", "replace"))
    assert isinstance(result, FrontMatter | Rejection)
    if isinstance(result, FrontMatter):
        assert isinstance(result.data, dict)


def test_work_list_reads_like_a_list_of_tuples() -> None:
    import pyarrow as pa

    from flows.load.ledger import WorkList

    rows = [(f"/c/{i:03d}.md", None if i % 3 else f"sha{i}") for i in range(10)]
    work = WorkList(pa.table({"path": [p for p, _ in rows], "sha256": [s for _, s in rows]}))
    assert len(work) == 10
    assert list(work) == rows
    assert work[3:7] == rows[3:7] and work[8:20] == rows[8:] and work[5:2] == []
    assert work[::4] == rows[::4] and work[::-3] == rows[::-3]
    assert (work[0], work[-1]) == (rows[0], rows[-1])
    with pytest.raises(IndexError):
        work[10]


def test_stage_files_hands_the_workers_a_bounded_window_of_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections.abc import Sequence

    from flows.normalize import batches as staging
    from flows.tools.synth import write_corpus

    class Recorded(Sequence[tuple[str, None]]):
        """The work list, noting how far chunks have been cut from it."""

        def __init__(self, items: list[tuple[str, None]]) -> None:
            self.items, self.cut = items, 0

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, index):  # type: ignore[no-untyped-def]
            if isinstance(index, slice):
                self.cut = max(self.cut, index.stop)
            return self.items[index]

    write_corpus(tmp_path / "corpus", 40)
    work = Recorded([(path, None) for path in discover([tmp_path / "corpus"]).paths])
    monkeypatch.setattr(staging, "QUEUED_CHUNKS", 4)
    summaries = staging.stage_files(
        work, tmp_path / "staging", workers=2, batch_size=1, max_file_bytes=1 << 20
    )
    first = next(summaries)
    assert work.cut == 2 + 4  # 40 chunks of one file: 6 handed out before the first result
    second = next(summaries)
    assert work.cut == 7
    rest = list(summaries)
    assert work.cut == 40
    dirs = [s.batch_dir for s in [first, second, *rest]]
    assert dirs == [str(tmp_path / "staging" / f"batch-{i:06d}") for i in range(40)]
    assert sum(s.documents for s in [first, second, *rest]) == 40


def test_blank_lines_before_the_front_matter_are_skipped_under_a_profile_only() -> None:
    # A real Hugo page starts with an empty line; Hugo reads it. The default contract does not.
    raw = b"\n \n---\ntitle: Release notes\ndate: 2021-02-19\n---\nThe body.\n"
    doc = parse_document("/s/a.md", raw, allow_empty=True)
    assert isinstance(doc, FrontMatter)
    assert (doc.data, doc.body) == (
        {"title": "Release notes", "date": dt.date(2021, 2, 19)},
        "The body.\n",
    )
    default = parse_document("/s/a.md", raw)
    assert isinstance(default, Rejection)
    assert (default.kind, default.line) == ("no_front_matter", 1)
    # Errors keep the file's own line numbers: the '[' opened on line 4 of the file.
    broken = parse_document("/s/b.md", b"\n\n---\ntags: [a, b\n---\n", allow_empty=True)
    assert isinstance(broken, Rejection)
    assert (broken.kind, broken.line, broken.col) == ("yaml_syntax", 4, 7)
    assert "at line 5, column 1, inside the '[' list opened here" in broken.reason
    unclosed = parse_document("/s/c.md", b"\n+++\ntitle = 'x'\n", allow_empty=True)
    assert isinstance(unclosed, Rejection)
    assert (unclosed.kind, unclosed.line) == ("unclosed_front_matter", 3)
    blank = parse_document("/s/d.md", b"\n\n  \n", allow_empty=True)
    assert isinstance(blank, Rejection)
    assert blank.kind == "empty_file"


def test_a_repeated_key_keeps_its_last_value_only_when_asked() -> None:
    """``duplicate_keys="last"`` (a profile's choice, as Jekyll reads YAML): the last value of a
    repeated key, at any depth, with a note naming it and its line in the file; the default
    rejects the file at the second key."""
    raw = b"\n---\ntitle: A\nprovider:\n  name: P\n  name: Q\ntitle: B\n---\nbody\n"
    rejected = parse_document("a.md", raw, allow_empty=True)
    assert isinstance(rejected, Rejection)
    assert (rejected.kind, rejected.line, rejected.col) == ("duplicate_key", 6, 3)
    doc = parse_document("a.md", raw, allow_empty=True, duplicate_keys="last")
    assert isinstance(doc, FrontMatter)
    assert doc.data == {"title": "B", "provider": {"name": "Q"}}
    assert doc.notes == (
        ("name", "duplicate key 'name' at line 6: its last value is kept "
                 "(profile: duplicate_keys = 'last')"),
        ("title", "duplicate key 'title' at line 7: its last value is kept "
                  "(profile: duplicate_keys = 'last')"),
    )  # fmt: skip
    broken = raw.replace(b"title: B", b"title: [B")  # another error still rejects
    assert parse_document("a.md", broken, True, "last").kind == "yaml_syntax"
