"""A safe YAML loader with limits: no Python objects, no duplicate or non-text keys, bounded size.

PyYAML's safe loaders never construct Python objects from tags, but they silently keep the last
of two duplicate keys and will happily build a structure whose alias expansion ("billion laughs")
or recursion makes any later JSON/Arrow serialization explode. ``load_front_matter`` composes
nodes with libyaml and builds Python objects in one pass that applies the checks as it goes, in
time linear in the number of distinct nodes (an alias counts at its full expanded size).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 50
MAX_EXPANDED_NODES = 100_000


class LimitExceeded(yaml.MarkedYAMLError):
    """The document is valid YAML but breaks a newsflow limit (kind tells which)."""

    def __init__(self, kind: str, problem: str, node: Node) -> None:
        super().__init__(problem=problem, problem_mark=node.start_mark)
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


class _Fallback(Exception):
    """A rarely used collection tag (!!set, !!omap, !!pairs): build with PyYAML's own path."""


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
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
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
                if value.isdigit() and (value[0] != "0" or value == "0"):
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
        if any(key.tag == _MERGE for key, _ in pairs):
            self.flatten_mapping(node)  # resolves '<<' merge keys as PyYAML does
            pairs = node.value
        mapping: dict[str, Any] = {}
        for key_node, value_node in pairs:
            if key_node.__class__ is not ScalarNode:
                shape = "list" if key_node.__class__ is SequenceNode else "mapping"
                raise KeyProblem("non_text_key", f"found a {shape} used as a key", key_node)
            key = self._build(key_node, depth + 1)
            if key.__class__ is not str:
                raise KeyProblem(
                    "non_text_key", f"found a key that is not text: {key!r:.40} (quote it)",
                    key_node,
                )  # fmt: skip
            if key in mapping:
                raise KeyProblem("duplicate_key", f"found duplicate key {key!r:.60}", key_node)
            mapping[key] = self._build(value_node, depth + 1)
        return mapping

    def _check_tag(self, node: Node) -> None:
        if node.tag in self.yaml_constructors:
            raise _Fallback
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}",
            node.start_mark,
        )  # fmt: skip

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
        self.flatten_mapping(node)  # resolves '<<' merge keys
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
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
            if key in mapping:
                raise KeyProblem("duplicate_key", f"found duplicate key {key!r:.60}", key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


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


def load_front_matter(text: str) -> Any:
    """Parse YAML text with :class:`StrictSafeLoader`."""
    loader = StrictSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


StrictSafeLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", StrictSafeLoader.construct_yaml_timestamp
)
