"""TOML (``+++``) and JSON (``{``) front matter, with the YAML path's limits and values.

Both parsers come from the standard library (``tomllib``, ``json``). What they build is then held
to the limits :mod:`flows.extract.safe_yaml` applies to YAML: nesting at most ``MAX_DEPTH`` levels
and at most ``MAX_EXPANDED_NODES`` values; JSON keys must be unique, as YAML's are (TOML refuses
duplicates itself). Values are made the ones the YAML path gives for the same data: a TOML
offset date-time is an aware ``datetime``, a local one a naive ``datetime``, a date a ``date``; a
TOML local time (YAML has none) becomes its ISO text.

Every failure is a :class:`FormatError` with a kind (``toml_syntax``, ``json_syntax``,
``duplicate_key``, ``too_deep``, ``too_large``), a problem, and a 1-based line and column in
the front matter text (None when the parser does not say).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from typing import Any

from flows.extract.safe_yaml import MAX_DEPTH, MAX_EXPANDED_NODES

_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


class FormatError(ValueError):
    """A TOML or JSON front matter that cannot be loaded: kind, problem, line and column."""

    def __init__(self, kind: str, problem: str, line: int | None, col: int | None) -> None:
        super().__init__(problem)
        self.kind = kind
        self.problem = problem
        self.line = line
        self.col = col


def load_toml(text: str) -> dict[str, Any]:
    """Parse TOML front matter (the text between the ``+++`` lines)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        if at:
            raise FormatError(
                "toml_syntax", message[: at.start()], int(at.group(1)), int(at.group(2))
            ) from None
        end = _TOML_END.search(message)
        if end:
            lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
            raise FormatError("toml_syntax", message[: end.start()], max(lines, 1), 1) from None
        raise FormatError("toml_syntax", message, None, None) from None
    except RecursionError:
        raise FormatError(
            "too_deep", f"nesting is deeper than {MAX_DEPTH} levels", None, None
        ) from None
    return _checked(data)  # type: ignore[no-any-return]


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _Duplicate(key)
        data[key] = value
    return data


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json_prefix(text: str) -> tuple[Any, int]:
    """Parse the JSON value that starts ``text``: (value, where it ends). Hugo's rule: the front
    matter is that one object, the body is what follows it."""
    try:
        data, end = json.JSONDecoder(object_pairs_hook=_unique).raw_decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError("json_syntax", exc.msg, exc.lineno, exc.colno) from None
    except _Duplicate as exc:
        line, col = _find_key(text, exc.key)
        raise FormatError(
            "duplicate_key", f"found duplicate key {exc.key!r:.60}", line, col
        ) from None
    except RecursionError:
        raise FormatError(
            "too_deep", f"nesting is deeper than {MAX_DEPTH} levels", None, None
        ) from None
    return _checked(data), end


def _find_key(text: str, key: str) -> tuple[int | None, int | None]:
    """Line and column of the second ``"key"`` in ``text`` (the duplicate), when found."""
    quoted = json.dumps(key)
    first = text.find(quoted)
    second = text.find(quoted, first + 1) if first >= 0 else -1
    if second < 0:
        return None, None
    line = text.count("\n", 0, second) + 1
    return line, second - (text.rfind("\n", 0, second) + 1) + 1


def _checked(data: Any) -> Any:
    """Depth and value-count limits, and the YAML path's value types (iterative: no recursion)."""
    total = 0
    stack: list[tuple[Any, Any, int]] = [(None, data, 1)]
    root = data
    while stack:
        parent, value, depth = stack.pop()
        total += 1
        if total > MAX_EXPANDED_NODES:
            raise FormatError(
                "too_large",
                f"front matter has more than {MAX_EXPANDED_NODES} values (a huge list)",
                None,
                None,
            )
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise FormatError(
                    "too_deep", f"nesting is deeper than {MAX_DEPTH} levels", None, None
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                if isinstance(child, dt.time):
                    value[key] = child.isoformat()
                else:
                    stack.append((value, child, depth + 1))
        elif isinstance(value, dt.time) and parent is None:
            root = value.isoformat()
    return root
