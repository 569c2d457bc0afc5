"""A safe YAML loader with limits: no Python objects, no duplicate or non-text keys, bounded size.

PyYAML's safe loaders never construct Python objects from tags, but they silently keep the last
of two duplicate keys and will happily build a structure whose alias expansion ("billion laughs")
or recursion makes any later JSON/Arrow serialization explode. ``load_front_matter`` composes
nodes with libyaml and builds Python objects in one pass that applies the checks as it goes, in
time linear in the number of distinct nodes (an alias counts at its full expanded size).

Parsing is the most expensive step of a run, so ``load_front_matter`` first tries yaml-rs (a Rust
parser that builds plain dicts, lists and scalars and never constructs objects from tags): it reads
a seed-shaped document in about a sixth of the time of libyaml plus the Python pass, and with the
checks below a parse takes about 60 % of the strict loader's time. Its results are kept only where
they are provably PyYAML's: yaml-rs reads YAML 1.2 and PyYAML reads YAML 1.1 (``yes``, ``017``,
``1e3``, ``12:30`` differ), so any document with a feature where the two can differ, or whose
values could have come from such a token, goes the PyYAML way, which also reports every error with
its line and column. See ``fast_load`` for the rules; a differential property test holds them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
import yaml_rs
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 50
MAX_EXPANDED_NODES = 100_000
# Nesting no parser is allowed to see (see ``check_nesting``): far beyond MAX_DEPTH (which the
# node graph enforces, with its usual errors), far below where a parser's stack can overflow
# (yaml-rs segfaults at about 10,000 levels; libyaml stops itself at 1,000).
MAX_PARSE_DEPTH = 500


class LimitExceeded(yaml.MarkedYAMLError):
    """The document is valid YAML but breaks a newsflow limit (kind tells which)."""

    def __init__(self, kind: str, problem: str, node: Node | yaml.Event | yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=getattr(node, "start_mark", node))
        self.kind = kind


class KeyProblem(yaml.constructor.ConstructorError):
    def __init__(self, kind: str, problem: str, node: Node) -> None:
        super().__init__(problem=problem, problem_mark=node.start_mark)
        self.kind = kind


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    {_STR, _INT, _NULL, "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float",
     "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
)  # fmt: skip


# PyYAML's implicit resolvers of the safe loader, by first character ('' for the empty scalar).
_IMPLICIT: dict[str, list[tuple[str, Any]]] = dict(yaml.SafeLoader.yaml_implicit_resolvers)
# The fast resolve below relies on these: no wildcard and no path resolvers in the safe loader.
assert None not in _IMPLICIT and not yaml.SafeLoader.yaml_path_resolvers


def _implicit_tag(text: str) -> str | None:
    """The tag PyYAML's safe resolver gives this text as a plain scalar, if not str."""
    for tag, regexp in _IMPLICIT.get(text[:1], ()):
        if regexp.match(text):
            return tag  # type: ignore[no-any-return]
    return None


class _Fallback(Exception):
    """Build with PyYAML's generic path instead: a rarely used collection tag (!!set, !!omap,
    !!pairs) in the strict loader, or a document the fast path cannot prove (``fast_load``)."""


class StrictSafeLoader(_Base):  # type: ignore[misc, valid-type]
    """The C safe loader (when built) plus duplicate-key, text-key and size checks.

    Nodes are composed by libyaml (C) exactly as ``yaml.CSafeLoader`` does; Python objects are
    then built by one recursive pass that applies the checks as it goes (depth <= MAX_DEPTH keeps
    the recursion shallow). Scalars use PyYAML's own safe constructors, so values are identical.
    """

    # libyaml calls these three for every node. PyYAML's versions also walk path resolvers, which
    # the safe loader never has: the same tags come out of this lean version, about twice as fast.
    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                return _implicit_tag(value) or _STR
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self._built: dict[int, tuple[Any, int]] = {}
        self._active: set[int] = set()
        self._total = 0
        try:
            return self._build(node, 1)
        except _Fallback:
            check_node_graph(node)
            return self.construct_document(node)

    def _build(self, node: Node, depth: int) -> Any:
        if node.__class__ is ScalarNode:
            self._total += 1
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag == _INT:
                value = node.value
                if value.isdigit() and (value[0] != "0" or value == "0") and len(value) < 4000:
                    return int(value)
            elif tag == _NULL:
                return None
            elif tag not in _SCALAR_TAGS:
                raise yaml.constructor.ConstructorError(
                    None, None, f"could not determine a constructor for the tag {tag!r}",
                    node.start_mark,
                )  # fmt: skip
            return self.yaml_constructors[tag](self, node)
        ident = id(node)
        seen = self._built.get(ident)
        if seen is not None:  # an alias: the same object again, counted at its full size
            self._total += seen[1]
            if self._total > MAX_EXPANDED_NODES:
                raise _too_large(node)
            return seen[0]
        if ident in self._active:
            raise LimitExceeded("recursive_alias", "found an alias that refers to itself", node)
        if depth > MAX_DEPTH:
            raise LimitExceeded("too_deep", f"nesting is deeper than {MAX_DEPTH} levels", node)
        start = self._total
        self._total += 1
        self._active.add(ident)
        if node.__class__ is SequenceNode:
            if node.tag != _SEQ:
                self._check_tag(node)
            result: Any = [self._build(child, depth + 1) for child in node.value]
        else:
            if node.tag != _MAP:
                self._check_tag(node)
            result = self._build_mapping(node, depth)
        self._active.discard(ident)
        if self._total > MAX_EXPANDED_NODES:
            raise _too_large(node)
        self._built[ident] = (result, self._total - start)
        return result

    def _build_mapping(self, node: Node, depth: int) -> dict[str, Any]:
        pairs = node.value
        merged = 0
        if any(key.tag in _FLATTEN for key, _ in pairs):
            merged = _flatten(self, node)
            pairs = node.value
        mapping: dict[str, Any] = {}
        for index, (key_node, value_node) in enumerate(pairs):
            if key_node.__class__ is not ScalarNode:
                shape = "list" if key_node.__class__ is SequenceNode else "mapping"
                raise KeyProblem("non_text_key", f"found a {shape} used as a key", key_node)
            key = self._build(key_node, depth + 1)
            if key.__class__ is not str:
                raise KeyProblem(
                    "non_text_key", f"found a key that is not text: {key!r:.40} (quote it)",
                    key_node,
                )  # fmt: skip
            if key in mapping and index >= merged and _explicit_before(pairs, merged, index, key):
                self._duplicate(key, key_node)
            try:
                mapping[key] = self._build(value_node, depth + 1)
            except _TooLongInteger as exc:
                if not exc.keyed:  # the innermost key names it
                    exc.keyed = True
                    exc.problem = f"{exc.problem} (key {key!r:.60})"
                raise
        return mapping

    # None: a duplicate key is an error; a list: each (key, 0-based line, column) is recorded
    # there and the last value wins (strict_load(..., duplicates=[])).
    duplicates: list[tuple[str, int, int]] | None = None

    def _duplicate(self, key: str, key_node: Node) -> None:
        if self.duplicates is None:
            raise KeyProblem("duplicate_key", f"found duplicate key {key!r:.60}", key_node)
        mark = key_node.start_mark
        self.duplicates.append((key, mark.line, mark.column))

    def _check_tag(self, node: Node) -> None:
        if node.tag in self.yaml_constructors:
            raise _Fallback
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}",
            node.start_mark,
        )  # fmt: skip

    def flatten_mapping(self, node: MappingNode) -> None:
        """PyYAML's, once per node (it also flattens the mappings merged in), remembering how
        many pairs the merge put before the mapping's own (``_flatten``)."""
        if hasattr(node, "merged_pairs"):
            return
        own = sum(1 for key, _ in node.value if key.tag != _MERGE)
        super().flatten_mapping(node)
        node.merged_pairs = len(node.value) - own

    def construct_yaml_int(self, node: Node) -> int:
        try:
            return super().construct_yaml_int(node)  # type: ignore[no-any-return]
        except ValueError as exc:  # more digits than Python converts (sys.get_int_max_str_digits)
            digits = sum(char.isdigit() for char in node.value)
            raise _TooLongInteger(
                None, None, f"integer of {digits} digits is too long to be a number",
                node.start_mark,
            ) from exc  # fmt: skip

    def construct_yaml_timestamp(self, node: Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # e.g. 2021-02-30
            raise yaml.constructor.ConstructorError(
                None, None, f"{exc} in {node.value!r:.40}", node.start_mark
            ) from exc

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        merged = _flatten(self, node)
        mapping: dict[str, Any] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                shape = "list" if isinstance(key_node, SequenceNode) else "mapping"
                raise KeyProblem("non_text_key", f"found a {shape} used as a key", key_node)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise KeyProblem(
                    "non_text_key",
                    f"found a key that is not text: {key!r:.40} (quote it)",
                    key_node,
                )
            if (
                key in mapping
                and index >= merged
                and _explicit_before(node.value, merged, index, key)
            ):
                self._duplicate(key, key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_VALUE = "tag:yaml.org,2002:value"
_FLATTEN = frozenset({_MERGE, _VALUE})


def _flatten(loader: Any, node: MappingNode) -> int:
    """PyYAML's flatten_mapping: '<<' merge keys resolved (their pairs first, so the mapping's
    own keys override them) and a plain '=' key made text. Returns how many pairs the merge
    put first: a key there may repeat (the last wins, as in PyYAML); only the mapping's own
    keys must be unique."""
    loader.flatten_mapping(node)
    return getattr(node, "merged_pairs", 0)  # type: ignore[no-any-return]


def _explicit_before(pairs: list[Any], merged: int, index: int, key: str) -> bool:
    """Whether ``key`` is one of the mapping's own keys before ``index`` (a real duplicate),
    not only one the merge brought in (which this key overrides)."""
    return any(
        pair[0].__class__ is ScalarNode and pair[0].value == key for pair in pairs[merged:index]
    )


class _TooLongInteger(yaml.constructor.ConstructorError):
    """An integer with more digits than Python converts: a value error, with its line."""

    keyed = False


def _too_large(node: Node) -> LimitExceeded:
    return LimitExceeded(
        "too_large",
        f"front matter has more than {MAX_EXPANDED_NODES} values once aliases are expanded "
        "(a huge list, or an alias bomb)",
        node,
    )


def check_node_graph(root: Node) -> None:
    """Reject recursive aliases, nesting deeper than MAX_DEPTH and alias expansion beyond
    MAX_EXPANDED_NODES, in time linear in the number of distinct nodes."""
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    # (node, depth, children_done)
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        ident = id(node)
        if done:
            on_path.discard(ident)
            size = 1 + sum(expanded[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_NODES:
                raise _too_large(node)
            expanded[ident] = size
            continue
        if ident in expanded:
            continue
        if ident in on_path:
            raise LimitExceeded("recursive_alias", "found an alias that refers to itself", node)
        if depth > MAX_DEPTH:
            raise LimitExceeded("too_deep", f"nesting is deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, ScalarNode):
            expanded[ident] = 1
            continue
        on_path.add(ident)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    return []


# Bounding the nesting before any parser sees a document, in two linear scans that cannot
# overflow. Block nesting needs indentation: each nested block collection starts at a column
# greater than its parent's, except a list that is a mapping's value (same column), which a
# list's child then indents again; so a block collection at depth d starts at column
# >= d / 2 - 1, and its first entry's line starts with that many spaces and indicators
# ('- ', '? ', ': '). Flow nesting needs one '[' or '{' per level. A document with no line
# starting with _DEEP_PREFIX such characters and at most _DEEP_BRACKETS brackets is therefore
# at most 2 * _DEEP_PREFIX + _DEEP_BRACKETS + 1 <= MAX_DEPTH deep: the cheap test. Any other
# document is walked event by event (libyaml's parser keeps its own stack, it does not recurse).
_DEEP_PREFIX = 20
_DEEP_BRACKETS = 8
# '\n' first, not '^' with re.M: a literal start is found at C speed (7x faster here)
_DEEP_LINE = re.compile(rf"\n[ \t?:-]{{{_DEEP_PREFIX}}}")
_DEEP_FIRST_LINE = re.compile(rf"[ \t?:-]{{{_DEEP_PREFIX}}}")
assert 2 * _DEEP_PREFIX + _DEEP_BRACKETS + 1 <= MAX_DEPTH
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def may_be_deep(text: str) -> bool:
    """False when ``text`` provably nests no deeper than MAX_DEPTH (a cheap linear scan)."""
    return (
        text.count("[") + text.count("{") > _DEEP_BRACKETS
        or _DEEP_LINE.search(text) is not None
        or _DEEP_FIRST_LINE.match(text) is not None
    )


def check_nesting(text: str) -> None:
    """Raise ``LimitExceeded`` (kind ``too_deep``) when ``text`` nests deeper than
    MAX_PARSE_DEPTH, before any parser builds it: at the first collection deeper than MAX_DEPTH,
    with the message the node graph check gives. Shallower documents, and syntax errors, are
    left to the loader, which reports them as before. Linear, no recursion."""
    if not may_be_deep(text):
        return
    depth = 0
    first_too_deep = None
    parser = _Base(text)
    try:
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, _OPEN):
                depth += 1
                if depth > MAX_DEPTH and first_too_deep is None:
                    first_too_deep = event
                if depth > MAX_PARSE_DEPTH:
                    raise LimitExceeded(
                        "too_deep", f"nesting is deeper than {MAX_DEPTH} levels", first_too_deep
                    )
            elif isinstance(event, _CLOSE):
                depth -= 1
    except LimitExceeded:
        raise
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in (exc.problem or "") and exc.problem_mark is not None:
            # libyaml's own stop at 1,000 levels (its scanner reads flow brackets ahead)
            raise LimitExceeded(
                "too_deep", f"nesting is deeper than {MAX_DEPTH} levels",
                first_too_deep or exc.problem_mark,
            ) from None  # fmt: skip
        return  # a syntax error: the loader reports it, with its line and column
    except yaml.YAMLError:
        return
    finally:
        parser.dispose()


def load_front_matter(text: str) -> Any:
    """Parse YAML text: the same value, or the same error, as :func:`strict_load`; faster."""
    data = fast_load(text)
    return strict_load(text) if data is FALLBACK else data


def strict_load(text: str, duplicates: list[tuple[str, int, int]] | None = None) -> Any:
    """Parse YAML text with :class:`StrictSafeLoader` (nesting bounded by ``check_nesting``).
    With a ``duplicates`` list, a duplicate key is recorded there (key, 0-based line, column)
    and its last value kept, as PyYAML's own loaders do, instead of being an error."""
    check_nesting(text)
    loader = StrictSafeLoader(text)
    loader.duplicates = duplicates
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


StrictSafeLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", StrictSafeLoader.construct_yaml_timestamp
)
StrictSafeLoader.add_constructor(_INT, StrictSafeLoader.construct_yaml_int)


# ---------------------------------------------------------------------------------------------
# The fast path: yaml-rs, kept only where its result is provably PyYAML's.

FALLBACK: Any = object()
"""What :func:`fast_load` returns when a document must be parsed by PyYAML."""

_TIMESTAMP = "tag:yaml.org,2002:timestamp"

# The PyYAML way at once (``_slow_text``): tags, anchors and aliases at the start of a token
# (yaml-rs ignores unknown tags, and PyYAML's limits count an alias at its expanded size), merge
# keys, document markers, escapes, tabs, the line breaks YAML 1.1 has and YAML 1.2 has not, a
# byte-order mark, characters PyYAML's reader refuses, non-empty flow collections (YAML 1.2's
# flow syntax accepts more than 1.1's: a plain scalar may start with ':' there) and block scalars
# (the two chomp an empty one differently). Python's regex engine scans a few kB in tens of
# microseconds, a whole parse by yaml-rs takes 60, so these are substring searches (C speed)
# with a look at the few hits.
_SLOW_SUBSTRINGS = ("\\", "<<", "\n---", "\n...")
_MARK_AFTER = " \n[{,:"
_NOT_PLAIN_TEXT = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _hits(text: str, char: str) -> Iterator[int]:
    index = text.find(char)
    while index >= 0:
        yield index
        index = text.find(char, index + 1)


def _slow_text(text: str, raw: bytes) -> bool:
    if any(part in text for part in _SLOW_SUBSTRINGS) or text.startswith(("---", "...")):
        return True
    if len(raw) == len(text):  # ASCII: anything but a line break and printable characters
        if raw.translate(None, delete=_PRINTABLE_ASCII):
            return True
    # str.isprintable is False for tabs, CR and every control or format character; only then
    # is the exact (slower) character check needed.
    elif not text.replace("\n", " ").isprintable() and _NOT_PLAIN_TEXT.search(text):
        return True
    for char in "!&*[{":  # a tag, anchor, alias or flow collection at the start of a token
        for index in _hits(text, char):
            if (index == 0 or text[index - 1] in _MARK_AFTER) and (
                char not in "[{" or text[index + 1 : index + 2] not in ("]", "}")
            ):
                return True
    for char in "|>":  # a block scalar: the indicator, then only chomping, indent, a comment
        for index in _hits(text, char):
            end = text.find("\n", index)
            rest = text[index + 1 : end if end >= 0 else None].lstrip("-+0123456789").strip()
            if not rest or rest[0] == "#":
                return True
    return False


# A whole plain token that YAML 1.1 reads as another integer than 1.2, or as text: a leading
# zero (017 is octal in 1.1, decimal in 1.2; 0o17 is text in 1.1) or underscore. Whole: from a
# value's start (a space, line start, [ { or , before it, or a quoted key's colon as in "a":017)
# to a line end, comment or flow separator, so that "Dec 2020 05.42" in a sentence is not one.
_START = r"""(?:(?<![^ \n\[{,])|(?<=["']:))"""
_END = r"(?=[ \t]*(?:$|[,\]}#]))"
_INT_RISK = re.compile(_START + r"[-+]?(?:0[0-9A-Za-z_]|_)[0-9A-Za-z_.:+-]*" + _END, re.M)
# Any whole plain token that starts like a number: yaml-rs makes floats of some that YAML 1.1
# reads as text (1e3, _0.), so a document with a float keeps its yaml-rs result only if PyYAML
# reads none of these tokens as text.
_NUMBER_TOKEN = re.compile(_START + r"([-+]?[0-9._][0-9A-Za-z_.:+-]*)" + _END, re.M)
# A cheaper test goes first for integers: the text's bytes, signs deleted, mapped to classes (S: a
# token start; Z: 0 or _; Q: a quote; C: a colon; x: anything else) and searched for the class
# sequences every _INT_RISK match starts with (a value is never at the text's start).
_CLASSES = bytes(
    b"SSSSSZZQQC"[b" \n[{,0_\"':".find(c)] if c in b" \n[{,0_\"':" else ord("x") for c in range(256)
)
_INT_HINTS = (b"SZ", b"QCZ")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"


def _number_risk(text: str, raw: bytes, ints: bool, floats: bool) -> bool:
    """Whether a plain token in the text (``raw``: its UTF-8) may be a number YAML 1.1 reads
    otherwise."""
    if ints:
        classes = raw.translate(_CLASSES, delete=b"+-")
        if any(hint in classes for hint in _INT_HINTS) and _INT_RISK.search(text):
            return True
    return floats and any(_implicit_tag(m[1]) is None for m in _NUMBER_TOKEN.finditer(text))


_TIMESTAMPS = StrictSafeLoader("")


def _widest(patterns: list[tuple[str, re.Pattern[str]]]) -> int:
    """The longest text any of these resolver patterns can match (their '$' also matches before
    a final line break, hence + 1)."""
    try:
        return max(re._parser.parse(rx.pattern, rx.flags).getwidth()[1] for _, rx in patterns) + 1
    except Exception:
        return sys.maxsize


# A text longer than every resolver of its first character can match is text to PyYAML (a title
# starting with 'T' cannot be True or Null), so most values skip the regex matches.
_WIDEST = {first: _widest(patterns) for first, patterns in _IMPLICIT.items()}
# Integers this long (about 3,000 digits) go the PyYAML way, which refuses more digits than
# Python converts (4,300 by default) with the line and column.
_LONG_INT_BITS = 10_000
# Keys recur from document to document: the ones known to be plain text are remembered.
_TEXT_KEYS: set[str] = set()
_TEXT_KEYS_MAX = 10_000


class _Check:
    """One walk over a yaml-rs result: types, PyYAML's limits, and text that PyYAML would type."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.total = 1
        self.ints = self.floats = False

    def container(self, node: dict[str, Any] | list[Any], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Fallback
        if node.__class__ is dict:
            self.total += 2 * len(node)
            for key in node:
                if key not in _TEXT_KEYS:
                    self.key(key)
            items: Any = node.items()
        else:
            self.total += len(node)
            items = enumerate(node)
        if self.total > MAX_EXPANDED_NODES:
            raise _Fallback
        for slot, item in items:
            kind = item.__class__
            if kind is str:
                if item and len(item) <= _WIDEST.get(item[0], 0):
                    tag = _implicit_tag(item)
                    if tag is not None:  # the same slot: no resize while iterating
                        node[slot] = self.timestamp(item, tag)
            elif kind is dict or kind is list:
                self.container(item, depth + 1)
            elif kind is int:
                self.ints = True
                if item.bit_length() > _LONG_INT_BITS:  # PyYAML may refuse it: let it decide
                    raise _Fallback
            elif kind is float:
                self.floats = True
            elif item is not None and kind is not bool:
                raise _Fallback

    @staticmethod
    def key(key: Any) -> None:
        if key.__class__ is not str or (key and _implicit_tag(key)) or len(key) > 1000:
            raise _Fallback  # PyYAML: a key that is not text, or too long a key
        if len(_TEXT_KEYS) < _TEXT_KEYS_MAX:
            _TEXT_KEYS.add(key)

    def timestamp(self, text: str, tag: str) -> Any:
        """A text PyYAML would type: kept only as a timestamp that was provably written plain.

        PyYAML types a timestamp written plain and keeps it text when quoted (block scalars
        never get here): it was plain if no quote precedes its date in the text. A quoted
        scalar that folds across lines still starts with its quote and date.
        """
        head = text[:10]
        if tag != _TIMESTAMP or f'"{head}' in self.text or f"'{head}" in self.text:
            raise _Fallback
        try:
            return _TIMESTAMPS.construct_yaml_timestamp(ScalarNode(_TIMESTAMP, text))
        except (ValueError, OverflowError, yaml.YAMLError):
            raise _Fallback from None  # e.g. 2021-02-30: PyYAML's path reports it


def fast_load(text: str) -> Any:
    """The value :func:`strict_load` gives ``text``, parsed by yaml-rs; or ``FALLBACK``.

    Kept only when the text has none of the features where YAML 1.1 and 1.2 differ or where
    PyYAML's checks apply (``_slow_text``: tags, anchors, merge keys, escapes, tabs, non-empty
    flow collections, block scalars, characters PyYAML refuses); the top level is a mapping;
    every key is text that PyYAML would not type; no text value would be typed by PyYAML
    (except a timestamp that was provably written plain: PyYAML's own constructor builds it);
    nesting and size are within PyYAML's limits; and no number can have come from a token the
    two read differently (``_number_risk``).
    Any yaml-rs error (a duplicate key included) falls back, so errors are always PyYAML's.
    """
    raw = text.encode("utf-8", "surrogatepass")
    if _slow_text(text, raw) or may_be_deep(text):  # yaml-rs recurses: deep text never meets it
        return FALLBACK
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # any parse error: PyYAML's path reports it with its line and column
        return FALLBACK
    if data.__class__ is not dict:
        return FALLBACK
    check = _Check(text)
    try:
        check.container(data, 1)
    except _Fallback:
        return FALLBACK
    if (check.ints or check.floats) and _number_risk(text, raw, check.ints, check.floats):
        return FALLBACK
    return data


# ---------------------------------------------------------------------------------------------
# Helpers for the contract: a timestamp as YAML reads it, and a scalar's text as written.


def yaml_timestamp(text: str) -> Any:
    """``text`` read as YAML's timestamp (a ``datetime``, or a ``date`` for a bare date) when it
    has that form, exactly as an unquoted value would load; None when it has not. A text of the
    form that is no real date or time (``2021-02-30``) raises ``ValueError``."""
    if _implicit_tag(text) != _TIMESTAMP:
        return None
    try:
        return _TIMESTAMPS.construct_yaml_timestamp(ScalarNode(_TIMESTAMP, text))
    except yaml.YAMLError as exc:
        raise ValueError(str(getattr(exc, "problem", None) or exc)) from None


def scalar_text(text: str, path: Sequence[str | int]) -> str | None:
    """The text of the plain scalar at ``path`` (mapping keys, 0-based list indexes) in the YAML
    ``text`` as it is written, before YAML types it (``0777``, not 511); None when there is no
    such plain scalar, or it is reached only through a merge key."""
    loader = StrictSafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    for step in path:
        if isinstance(step, int) and isinstance(node, SequenceNode):
            if not 0 <= step < len(node.value):
                return None
            node = node.value[step]
        elif isinstance(step, str) and isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                if isinstance(key, ScalarNode) and key.tag == _STR and key.value == step:
                    node = value
                    break
            else:
                return None
        else:
            return None
    if isinstance(node, ScalarNode) and not node.style:  # plain ('' from libyaml, None from PyYAML)
        return node.value  # type: ignore[no-any-return]
    return None
