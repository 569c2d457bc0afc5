"""Extract: TOML (+++) and JSON ({) front matter, YAML closed by '...', UTF-16 with a BOM."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract.formats import load_json_prefix, load_toml
from flows.extract.frontmatter import parse_document
from flows.extract.safe_yaml import MAX_DEPTH
from flows.records import FrontMatter, Rejection

# -- a small TOML writer for the properties (inline tables: any nesting in one key = value) ----


def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(data: dict[str, Any]) -> str:
    return "".join(f"{_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


# Text TOML, JSON and YAML all write and read back the same (no surrogates, controls or DEL).
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_scalars = (
    _text
    | st.integers(-(2**60), 2**60)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_documents = st.dictionaries(_text, _values, min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(_documents)
def test_any_mapping_reads_the_same_as_yaml_toml_and_json(data: dict[str, Any]) -> None:
    as_yaml = parse_document(
        "a.md", f"---\n{yaml.safe_dump(data, allow_unicode=True)}---\nb\n".encode()
    )
    as_toml = parse_document("a.md", f"+++\n{to_toml(data)}+++\nb\n".encode())
    as_json = parse_document("a.md", f"{json.dumps(data, ensure_ascii=False)}\nb\n".encode())
    for doc in (as_yaml, as_toml, as_json):
        assert isinstance(doc, FrontMatter), str(doc)
        assert doc.data == data
        assert doc.body == "b\n"


_prefixes = st.sampled_from([b"+++\n", b"{", b'{"a": ', b"---\n", b"\xff\xfe", b"\xfe\xff", b""])


@settings(max_examples=300, deadline=None)
@given(_prefixes, st.binary(max_size=200), st.sampled_from([b"", b"\n+++\n", b"}\n", b"\n...\n"]))
def test_garbage_is_never_an_exception(prefix: bytes, middle: bytes, suffix: bytes) -> None:
    result = parse_document("g.md", prefix + middle + suffix)
    assert isinstance(result, FrontMatter | Rejection)
    if isinstance(result, FrontMatter):
        assert isinstance(result.data, dict) and result.data


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_toml_or_json_text_is_a_value_or_a_format_error(text: str) -> None:
    for raw in (f"+++\n{text}\n+++\n", "{" + text):
        result = parse_document("t.md", raw.encode("utf-8", "surrogatepass"))
        assert isinstance(result, FrontMatter | Rejection)


def test_toml_dates_are_the_values_yaml_gives() -> None:
    lines = [
        "aware: 2024-03-21T09:30:00+09:00",
        "utc: 2024-03-21T00:30:00Z",
        "local: 2024-03-21T09:30:00",
        "day: 2024-03-21",
    ]
    from_yaml = parse_document("y.md", ("---\n" + "\n".join(lines) + "\n---\n").encode())
    toml = "\n".join(line.replace(": ", " = ", 1) for line in lines)
    from_toml = parse_document("t.md", f"+++\n{toml}\nclock = 10:30:00\n+++\n".encode())
    assert isinstance(from_yaml, FrontMatter) and isinstance(from_toml, FrontMatter)
    assert from_toml.data == {**from_yaml.data, "clock": "10:30:00"}
    assert from_toml.data["aware"] == dt.datetime(
        2024, 3, 21, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=9))
    )
    assert from_toml.data["day"] == dt.date(2024, 3, 21)
    assert from_toml.data["local"].tzinfo is None


def test_json_front_matter_ends_where_the_object_ends() -> None:
    doc = parse_document("j.md", b'{"title": "x",\n "tags": ["a"]\n}\nThe body.\n')
    assert isinstance(doc, FrontMatter)
    assert (doc.data, doc.body, doc.raw) == (
        {"title": "x", "tags": ["a"]}, "The body.\n", '{"title": "x",\n "tags": ["a"]\n}',
    )  # fmt: skip
    assert load_json_prefix('{"a": 1} rest') == ({"a": 1}, 8)


def test_yaml_may_close_with_dots_as_jekyll_writes() -> None:
    doc = parse_document("j.md", b"---\ntitle: x\n...\nbody --- here\n---\n")
    assert isinstance(doc, FrontMatter)
    assert (doc.data, doc.body) == ({"title": "x"}, "body --- here\n---\n")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_decoded(codec: str) -> None:
    bom = b"\xff\xfe" if codec.endswith("le") else b"\xfe\xff"
    raw = bom + "---\r\ntitle: 日本\r\n---\r\nbody\r\n".encode(codec)
    doc = parse_document("u.md", raw)
    assert isinstance(doc, FrontMatter)
    assert (doc.data, doc.body) == ({"title": "日本"}, "body\n")


@pytest.mark.parametrize(
    ("raw", "kind", "reason", "line", "col"),
    [
        (b"+++\ntitle = 'x\n+++\n", "toml_syntax",
         "could not parse TOML front matter: Expected \"'\"", 2, 1),
        (b"+++\na = 1\na = 2\n+++\n", "toml_syntax",
         "could not parse TOML front matter: Cannot overwrite a value", 3, 6),
        (b"+++\ntitle = 'x'\n", "unclosed_front_matter",
         "front matter is not closed: no closing '+++' line", 2, 1),
        (b"+++\n+++\n", "empty_front_matter", "front matter is empty", 2, 1),
        (b'{"title": "x",\n "tags": ["a" \n}\n', "json_syntax",
         "could not parse JSON front matter: Expecting ',' delimiter", 3, 1),
        (b'{"title": "x", "title": 2}\n', "duplicate_key",
         "could not parse JSON front matter: found duplicate key 'title'", 1, 16),
        (b"{}\nbody\n", "empty_front_matter", "front matter is empty", 1, 1),
        (b"[1, 2]\n", "no_front_matter", "no front matter: the first line must be '---' (YAML), "
         "'+++' (TOML) or start with '{' (JSON)", 1, 1),
        (b'{"a": ' + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"}\n", "too_deep",
         f"could not parse JSON front matter: nesting is deeper than {MAX_DEPTH} levels", None,
         None),
        (b"+++\na = " + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"\n+++\n", "too_deep",
         f"could not parse TOML front matter: nesting is deeper than {MAX_DEPTH} levels", None,
         None),
        (b"+++\na = [" + b"1," * 100_001 + b"]\n+++\n", "too_large",
         "could not parse TOML front matter: front matter has more than 100000 values "
         "(a huge list)", None, None),
        (b"\xff\xfe\x00\xd8", "not_utf8", "file starts with a UTF-16 byte-order mark but is not "
         "valid UTF-16 (at byte 2); save it as UTF-8", 1, 1),
    ],
)  # fmt: skip
def test_each_format_failure_is_quarantined_with_its_place(
    raw: bytes, kind: str, reason: str, line: int | None, col: int | None
) -> None:
    result = parse_document("bad.md", raw)
    assert isinstance(result, Rejection), result
    assert (result.kind, result.reason, result.line, result.col, result.stage) == (
        kind, reason, line, col, "extract",
    )  # fmt: skip


def test_toml_loader_keeps_plain_values() -> None:
    assert load_toml('a = 1\nb = "x"\n[c]\nd = [1.5, true]\n') == {
        "a": 1, "b": "x", "c": {"d": [1.5, True]},
    }  # fmt: skip
