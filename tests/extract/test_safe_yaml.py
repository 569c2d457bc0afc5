"""The fast YAML path (yaml-rs) gives PyYAML's values, or hands the document to PyYAML.

The differential property test writes documents out of the tokens YAML 1.1 and 1.2 read
differently, in every style (plain, quoted, block, flow), and checks that whenever ``fast_load``
keeps a result it is exactly ``strict_load``'s: same types, same values, same key order.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract.frontmatter import split_front_matter
from flows.extract.safe_yaml import (
    FALLBACK,
    MAX_DEPTH,
    LimitExceeded,
    check_nesting,
    fast_load,
    load_front_matter,
    may_be_deep,
    strict_load,
)
from tests.conftest import CORPUS

ROOT = Path(__file__).resolve().parents[2]

# Tokens whose meaning differs between YAML 1.1 (PyYAML) and 1.2 (yaml-rs), or that sit at the
# edge of a resolver, and ordinary ones.
TOKENS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "True", "TRUE", "true", "false", "~",
    "null", "Null", "NULL", "0", "00", "017", "-017", "+017", "0o17", "0O17", "0x1F", "-0x1f",
    "0b101", "1_000", "_1", "1_", "+12", "-0", "1:30", "190:20:30", "-1:30", "1e3", "1E3",
    "1.5e3", "1.0e+3", "0.1e1", "1e-3", "1e400", ".5", "1.", "-.5", ".inf", "-.Inf", "+.inf",
    ".nan", ".NaN", "1_000.5", "123456789012345678901234567890", "2024-01-02",
    "2024-01-02T03:04:05Z", "2024-01-02 03:04:05.5 +02:00", "2024-1-2T3:4:5", "2024-01-02T03:04",
    "2001-12-14t21:59:43.10-05:00", "2024-13-02", "2021-02-30", "2024-01-02T25:00:00Z", "=",
    "<<", "12:30", "x", "hello world", "-x", ":x", "a#b", "a: b", "Dec 2020 05.42", "",
]  # fmt: skip
PLAIN_SAFE = st.sampled_from(TOKENS) | st.from_regex(r"[-+]?[0-9_.eEoxXb:]{1,8}", fullmatch=True)
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\t\\'\":#-0e\x85"),
    max_size=12,
)


def _render(token: str, style: str, indent: int) -> str:
    if style == "single":
        return "'" + token.replace("'", "''") + "'"
    if style == "double":
        return json.dumps(token, ensure_ascii=False)
    if style == "block":
        pad = " " * (indent + 2)
        return "|-\n" + "".join(pad + line + "\n" for line in token.split("\n")).rstrip("\n")
    return token


ALL_STYLES = ("plain", "single", "double", "block")
ALL_SHAPES = ("scalar", "scalar", "map", "list", "flow")


@st.composite
def scalars(draw: st.DrawFn, indent: int, styles: tuple[str, ...] = ALL_STYLES) -> str:
    token = draw(PLAIN_SAFE | TEXT)
    return _render(token, draw(st.sampled_from(styles)), indent)


@st.composite
def documents(
    draw: st.DrawFn,
    indent: int = 0,
    depth: int = 0,
    styles: tuple[str, ...] = ALL_STYLES,
    shapes: tuple[str, ...] = ALL_SHAPES,
) -> str:
    pad = " " * indent
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        key = _render(draw(PLAIN_SAFE), draw(st.sampled_from(["plain", "double"])), indent)
        shape = draw(st.sampled_from(shapes))
        if shape == "map" and depth < 2:
            lines.append(f"{pad}{key}:\n{draw(documents(indent + 2, depth + 1, styles, shapes))}")
        elif shape == "list":
            items = draw(st.lists(scalars(indent + 2, styles), min_size=1, max_size=3))
            lines.append(f"{pad}{key}:\n" + "".join(f"{pad}  - {x}\n" for x in items))
        elif shape == "flow":
            items = draw(st.lists(PLAIN_SAFE, min_size=0, max_size=3))
            lines.append(f"{pad}{key}: [{', '.join(items)}]\n")
        else:
            lines.append(f"{pad}{key}: {draw(scalars(indent, styles))}\n")
    return "".join(lines)


# Mostly documents the fast path keeps: no flow collections or block scalars, which fall back.
KEPT = documents(styles=("plain", "single", "double"), shapes=("scalar", "scalar", "map", "list"))
SEED = ROOT / "seeds" / "articles" / "000_ea677038ccb46893.txt"
SEED_LINES = split_front_matter(SEED.read_text())[0].splitlines()


@st.composite
def seed_variants(draw: st.DrawFn) -> str:
    """The seed document with one to three of its values replaced by the tokens above."""
    lines = list(SEED_LINES)
    values = [i for i, line in enumerate(lines) if ": " in line and not line.endswith(": ")]
    for index in draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)):
        head = lines[index].partition(": ")[0]
        style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
        lines[index] = f"{head}: {_render(draw(PLAIN_SAFE), style, 0)}"
    return "\n".join(lines) + "\n"


def canonical(value: Any) -> Any:
    """Types and values, exactly: True is not 1, 1 is not 1.0, nan equals nan, key order counts."""
    if isinstance(value, dict):
        return ("dict", [(canonical(k), canonical(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canonical(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def strict_or_error(text: str) -> Any:
    try:
        return canonical(strict_load(text))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


@settings(max_examples=400, deadline=None)
@given(documents() | KEPT | seed_variants())
def test_a_kept_fast_result_is_exactly_pyyamls(text: str) -> None:
    fast = fast_load(text)
    if fast is not FALLBACK:
        assert canonical(fast) == strict_or_error(text)


@settings(max_examples=200, deadline=None)
@given(documents() | TEXT.map(lambda t: f"k: {t}\n"))
def test_load_front_matter_gives_pyyamls_value_or_error(text: str) -> None:
    try:
        got = canonical(load_front_matter(text))
    except Exception as exc:
        got = ("error", type(exc).__name__, str(exc))
    assert got == strict_or_error(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k: yes\n", {"k": True}),  # YAML 1.1 booleans
        ("k: 017\n", {"k": 15}),  # 1.1 octal; 17 in 1.2
        ("k: 0o17\n", {"k": "0o17"}),
        ("k: 1e3\n", {"k": "1e3"}),  # 1.1 floats need a dot
        ("k: 12:30\n", {"k": 750}),  # 1.1 sexagesimal
        ("k: _1\n", {"k": "_1"}),
        ('k: "2024-01-02"\n', {"k": "2024-01-02"}),  # quoted: text in PyYAML
        ("k: |-\n  2024-01-02\n", {"k": "2024-01-02"}),  # a block scalar is text too
        ("k: >\n", {"k": ""}),  # yaml-rs keeps a line break in an empty block scalar
        ("k: !!binary aGVsbG8=\n", {"k": b"hello"}),
        ("<<: {a: 1}\nb: 2\n", {"a": 1, "b": 2}),  # merge key
        ("a: &x [1]\nb: *x\n", {"a": [1], "b": [1]}),
        ("k:\ta\n", {"k": "a"}),
        ("{a: 1, b: [c, d]}\n", {"a": 1, "b": ["c", "d"]}),  # flow: 1.2 accepts more
        ("x: [:0]\n", None),
        ('{"a":017}\n', {"a": 15}),
        ("k: [1,017]\n", {"k": [1, 15]}),
        ("? [a]\n: 1\n", None),  # a list as a key: PyYAML refuses it
        ("a: 1\na: 2\n", None),  # duplicate key
        ("k: a\x85b\n", None),  # NEL is a line break in YAML 1.1
        ("k: a\x07b\n", None),  # PyYAML's reader refuses control characters
        ("k: 2021-02-30\n", None),
        ("k: " + "[" * 60 + "]" * 60 + "\n", None),  # deeper than MAX_DEPTH
        # a merge key with an override: the mapping's own key wins (was "duplicate key 'x'")
        ("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", {"b": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}}),
        ("=: x\n", {"=": "x"}),  # a plain '=' key is text (was "unknown tag")
        ("b: &b {x: 1}\nc: {<<: *b, x: 3, x: 4}\n", None),  # a real duplicate stays one
        ("k: " + "- " * 12_000 + "\n", None),  # 12,000 levels: never handed to yaml-rs
    ],
)
def test_where_yaml_1_1_and_1_2_differ_pyyaml_decides(text: str, expected: Any) -> None:
    assert fast_load(text) is FALLBACK
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - the same error as strict_load
            load_front_matter(text)
        assert strict_or_error(text)[0] == "error"
    else:
        assert canonical(load_front_matter(text)) == canonical(expected)


def test_plain_timestamps_and_numbers_take_the_fast_path() -> None:
    text = (
        "a: 2020-12-17T17:43:00Z\nb: 2024-01-02\nc: -1\nd: 0\ne: 61\nf: true\ng: ~\n"
        'h: "Dec 2020 05.42 EST, 1,000 people"\ni: 1.5\nj: []\nk: {}\n'
    )
    fast = fast_load(text)
    assert fast == {
        "a": dt.datetime(2020, 12, 17, 17, 43, tzinfo=dt.UTC),
        "b": dt.date(2024, 1, 2),
        "c": -1, "d": 0, "e": 61, "f": True, "g": None,
        "h": "Dec 2020 05.42 EST, 1,000 people", "i": 1.5, "j": [], "k": {},
    }  # fmt: skip
    assert canonical(fast) == strict_or_error(text)


def _front_matters(paths: list[Path]) -> dict[str, str]:
    texts = {}
    for path in paths:
        if path.suffix in (".md", ".txt") and path.read_bytes().startswith(b"---"):
            text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
            if "\n---" in text[3:]:
                texts[path.name] = split_front_matter(text)[0]
    return texts


def test_every_seed_document_takes_the_fast_path_with_pyyamls_values() -> None:
    texts = _front_matters(sorted((ROOT / "seeds" / "articles").rglob("*")))
    assert len(texts) >= 49
    for name, text in texts.items():
        fast = fast_load(text)
        assert fast is not FALLBACK, name
        assert canonical(fast) == strict_or_error(text), name


def test_fixture_documents_fall_back_only_for_tabs_and_dashes() -> None:
    texts = _front_matters(sorted(CORPUS.iterdir()))
    slow = sorted(name for name, text in texts.items() if fast_load(text) is FALLBACK)
    # tab_indent: a tab; dashes_in_value: quoted values PyYAML would type if plain ("yes")
    assert slow == ["dashes_in_value.txt", "tab_indent.txt"]


@pytest.mark.parametrize(
    "text",
    [
        "k: '\n  2020-01-01'\n",  # a quoted scalar that starts with a line break: ' 2020-01-01'
        'k: "\n  2020-01-01"\n',
        "k: '\n\n  2020-01-01'\n",
        "k:\n  2020-01-01\n",  # plain on the next line: a date
        "k: 'x\n  2020-01-01'\n",
        "k: 2020-12-17T17:43:00Z # a comment\n",
        "k: Dec 2020 05\n",
    ],
)
def test_folded_and_commented_scalars_agree(text: str) -> None:
    fast = fast_load(text)
    assert fast is not FALLBACK
    assert canonical(fast) == strict_or_error(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", {"b": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}}),
        ("b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n", {"b": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}}),
        ("a: &a {x: 1}\nb: &b {x: 2, z: 1}\nc: {<<: [*a, *b], x: 5}\n",
         {"a": {"x": 1}, "b": {"x": 2, "z": 1}, "c": {"x": 5, "z": 1}}),
        ("a: &a {x: 1}\nc: {<<: *a, x: 3, y: !!set {p: null}}\n",
         {"a": {"x": 1}, "c": {"x": 3, "y": {"p"}}}),  # the generic (fallback) path
        ("=: x\n", {"=": "x"}),
        ("k: {=: x, y: 1}\n", {"k": {"=": "x", "y": 1}}),
    ],
)  # fmt: skip
def test_once_rejected_valid_forms_load_exactly_as_pyyaml_does(text: str, expected: Any) -> None:
    assert yaml.safe_load(text) == expected
    assert canonical(load_front_matter(text)) == canonical(expected)
    assert canonical(strict_load(text)) == canonical(expected)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: 1\na: 2\n", 1, 0),
        ("b: &b {x: 1}\nc: {<<: *b, x: 3, x: 4}\n", 1, 18),
        ("b: &b {x: 1}\nc:\n  <<: *b\n  x: 3\n  'x': 4\n", 4, 2),
        ("b: &b {x: 1}\nc: {x: 3, <<: *b, x: 4, y: !!set {}}\n", 1, 18),  # generic path
    ],
)
def test_real_duplicates_next_to_a_merge_are_still_rejected(
    text: str, line: int, column: int
) -> None:
    with pytest.raises(yaml.constructor.ConstructorError) as caught:
        load_front_matter(text)
    assert caught.value.problem == "found duplicate key 'x'" or text.startswith("a:")
    assert (caught.value.problem_mark.line, caught.value.problem_mark.column) == (line, column)


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


@settings(max_examples=300, deadline=None)
@given(documents() | KEPT | seed_variants())
def test_the_cheap_nesting_bound_never_passes_a_document_deeper_than_max_depth(text: str) -> None:
    if not may_be_deep(text):
        try:
            value = strict_load(text)
        except Exception:
            return
        assert _depth(value) <= MAX_DEPTH


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("x:\n" + "- " * 12_000 + "end\n", 1, 98),  # compact: 24 KB, 12,000 levels
        ("x:\n" + "".join("  " * i + "-\n" for i in range(1, 600)), 50, 100),  # indented
        ("x: " + "[" * 12_000 + "]" * 12_000 + "\n", 0, 1002),  # libyaml stops at 1,000
        ("x: " + "{a: " * 600 + "}" * 600 + "\n", 0, 199),
    ],
)
def test_too_deep_documents_are_refused_before_any_parser_builds_them(
    text: str, line: int, column: int
) -> None:
    assert fast_load(text) is FALLBACK
    for check in (check_nesting, load_front_matter):
        with pytest.raises(LimitExceeded) as caught:
            check(text)
        assert caught.value.kind == "too_deep"
        assert caught.value.problem == f"nesting is deeper than {MAX_DEPTH} levels"
        mark = caught.value.problem_mark
        assert (mark.line, mark.column) == (line, column)


def test_deep_but_not_absurd_documents_keep_the_node_graph_errors() -> None:
    text = "x: " + "[" * 60 + "]" * 60 + "\n"
    assert may_be_deep(text)
    check_nesting(text)  # 60 levels: left to the loader, which reports as before
    with pytest.raises(LimitExceeded) as caught:
        load_front_matter(text)
    assert (caught.value.kind, caught.value.problem_mark.column) == ("too_deep", 52)


@pytest.mark.parametrize(
    ("text", "problem", "line", "column"),
    [
        ("q: " + "9" * 5_000 + "\n", "integer of 5000 digits is too long to be a number (key 'q')", 0, 3),
        ("a:\n  b: [-" + "1" * 5_000 + "]\n", "integer of 5000 digits is too long to be a number (key 'b')", 1, 6),
    ],
)  # fmt: skip
def test_an_integer_too_long_for_python_is_a_value_error_with_its_line(
    text: str, problem: str, line: int, column: int
) -> None:
    assert fast_load(text) is FALLBACK  # yaml-rs built it; PyYAML refuses it
    with pytest.raises(yaml.constructor.ConstructorError) as caught:
        load_front_matter(text)
    assert caught.value.problem == problem
    assert (caught.value.problem_mark.line, caught.value.problem_mark.column) == (line, column)


def test_a_long_integer_python_converts_still_loads() -> None:
    text = "q: " + "9" * 4_000 + "\nh: 0x" + "f" * 5_000 + "\n"  # hex has no digit limit
    assert load_front_matter(text) == yaml.safe_load(text)
    assert load_front_matter(text)["q"] == int("9" * 4_000)
