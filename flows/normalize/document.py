"""One document's data -> rows for every table, or a Rejection.

The rules live in :mod:`flows.normalize.contract` (the declared contract); this module applies them:
- ``article_id`` = first 16 hex chars of sha256("article" 0x1F canonical URL); canonical URL =
  ``webUrl``, else ``originalUrl``, trimmed, scheme and host lowercased, fragment dropped.
- ``provider_id`` = id of the canonical domain (lowercase, no leading ``www.``); a provider with a
  name but no domain is keyed by its lowercased name.
- ``topic_id`` = id of the case-folded, whitespace-collapsed name.
- A value that cannot be coerced loads as NULL with a warning naming the field; keys outside the
  contract are kept in the ``extra`` JSON column of their row and reported as drift.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flows.extract.safe_yaml import scalar_text, yaml_timestamp
from flows.normalize.contract import Field, known_keys, scalar_fields
from flows.normalize.profile import url_hint
from flows.records import FrontMatter, Rejection

STAGE = "normalize"
UTC = dt.UTC

ARTICLE_KEYS = known_keys("")
RELATED_KEYS = known_keys("related[].")
IMAGE_KEYS = known_keys("images[].")
PROVIDER_KEYS = known_keys("provider.")
ARTICLE_SCALARS = scalar_fields("")
RELATED_SCALARS = scalar_fields("related[].")
IMAGE_SCALARS = scalar_fields("images[].")

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_SPACES = re.compile(r"\s+")
_INDEX = re.compile(r"\[\d+\]")
# Text that YAML's timestamp constructor and datetime.fromisoformat read as the same value.
_ISO_COMMON = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{6}|\.\d{3})?(?:Z|[+-]\d\d:\d\d)?\Z"
)
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# Lowercase scheme and host, no fragment, no empty query, nothing urlsplit would strip or refuse.
_ALREADY_CANONICAL = re.compile(
    r"[a-z][a-z0-9+.-]*://[a-z0-9.-]+(?::[0-9]+)?(?:/[^#?\s]*)?(?:\?[^#\s]+)?\Z"
)
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_TYPE_NAMES = {
    str: "text", int: "integer", float: "float", bool: "boolean", dict: "mapping",
    list: "list", bytes: "binary", dt.datetime: "timestamp", dt.date: "date", type(None): "null",
}  # fmt: skip
_CANONICAL = {"text": "text", "url": "text", "integer": "integer", "boolean": "boolean",
              "timestamp": "timestamp"}  # fmt: skip


def snake_case(key: str) -> str:
    """``publishedDateTime`` -> ``published_date_time``; ``isCached`` -> ``is_cached``."""
    return _CAMEL.sub(r"_\1", key).lower()


def make_id(*parts: str) -> str:
    """A deterministic 16-hex-char id from text parts."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def canonical_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    if _ALREADY_CANONICAL.match(url):  # the common case: split_canonical would return it as is
        return url
    return split_canonical(url)


def split_canonical(url: str) -> str:
    """Scheme and host lowercased, fragment dropped (the general path of canonical_url)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def article_id_for(url: str | None) -> str | None:
    return make_id("article", url) if url else None


def canonical_domain(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    domain = value.strip().lower()
    if "://" in domain:
        try:
            domain = urlsplit(domain).netloc
        except ValueError:
            return None
    domain = domain.split("/", 1)[0].rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain or None


def topic_key(name: str) -> str:
    return _SPACES.sub(" ", name).strip().casefold()


@dataclass
class Collector:
    """Warnings (field, message) and drift observations (key path, observed, expected type).

    Drift records keys outside the contract, and values the contract could not store as they
    were given (stored as NULL, dropped, ignored, or rounded): a value converted without loss
    (a quoted timestamp or number, ``yes`` for a boolean, a whole float) is not drift, so
    quoting a value never changes the report. ``source`` is the front matter as written, from
    which a text field takes a scalar's own text."""

    warnings: list[tuple[str, str]] = field(default_factory=list)
    observations: list[tuple[str, str, str | None]] = field(default_factory=list)
    source: str | None = None

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))

    def observe(self, field_name: str, value: Any, expected: str | None) -> None:
        self.observations.append((_INDEX.sub("[]", field_name), type_name(value), expected))

    def written(self, field_name: str) -> str | None:
        """The text of the plain scalar ``field_name`` (``related[2].title``) as written."""
        if self.source is None:
            return None
        path: list[str | int] = [
            key if key else int(index) - 1 for key, index in _STEP.findall(field_name)
        ]
        return scalar_text(self.source, path)


@dataclass
class DocumentRows:
    """Rows of every table produced by one document (the shape of ``flows.normalize.batches``)."""

    article: dict[str, Any]
    providers: list[dict[str, Any]]
    images: list[dict[str, Any]]
    related: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    article_topics: list[dict[str, Any]]
    warnings: list[tuple[str, str]]
    observations: list[tuple[str, str, str | None]] = field(default_factory=list)
    front_matter: str | None = None


# -- coercion ---------------------------------------------------------------------------------


def to_text(value: Any, name: str, out: Collector) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | dt.date):
        # The scalar's own text (``0777``, ``1.50``, ``yes``), not YAML 1.1's reading of it.
        written = out.written(name)
        out.warn(name, f"expected text, got {type_name(value)}; stored as written")
        if written is not None:
            return written
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    out.observe(name, value, "text")
    out.warn(name, f"expected text, got {type_name(value)}; stored as NULL")
    return None


def to_int(value: Any, name: str, out: Collector) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**31) <= value < 2**31:
            return value
        out.warn(name, f"number {value} is out of range; stored as NULL")
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                out.observe(name, value, "integer")
                out.warn(name, f"expected a number, got text {value!r:.60}; stored as NULL")
                return None
        if isinstance(number, float) and not math.isfinite(number):
            out.observe(name, value, "integer")
            out.warn(name, f"number given as text {value!r:.60} is not finite; stored as NULL")
            return None
        out.warn(name, f"number given as text {value!r:.60}; converted")
        return _from_number(number, value, name, out)
    if isinstance(value, float):
        return _from_number(value, value, name, out)
    out.observe(name, value, "integer")
    out.warn(name, f"expected a number, got {type_name(value)}; stored as NULL")
    return None


def _from_number(number: float, given: Any, name: str, out: Collector) -> int | None:
    """``number`` (read from ``given``) as an integer; drift when it cannot be stored as is."""
    if isinstance(number, float) and not math.isfinite(number):
        out.observe(name, given, "integer")
        out.warn(name, f"number {number} is not finite; stored as NULL")
        return None
    if isinstance(number, float) and not number.is_integer():
        out.observe(name, given, "integer")
        out.warn(name, f"number {number} is not whole; rounded to {round(number)}")
    whole = round(number)
    if -(2**31) <= whole < 2**31:
        return whole
    out.observe(name, given, "integer")
    out.warn(name, f"number {number} is out of range; stored as NULL")
    return None


def to_bool(value: Any, name: str, out: Collector) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        out.warn(name, f"boolean given as text {value!r}; converted")
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    out.observe(name, value, "boolean")
    out.warn(name, f"expected true/false, got {value!r:.60}; stored as NULL")
    return None


def to_timestamp(value: Any, name: str, out: Collector) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            # Text of YAML's timestamp form reads exactly as the same value unquoted would
            # (one-digit hours, a space before the offset); other ISO 8601 text as Python reads it.
            if _ISO_COMMON.match(text):  # the common shape: both read it alike, this 60x faster
                parsed = dt.datetime.fromisoformat(text)
            else:
                parsed = yaml_timestamp(text)
            if parsed is None:
                parsed = dt.datetime.fromisoformat(text)
                if len(text) <= len("2021-01-31"):
                    parsed = parsed.date()
        except ValueError:
            out.observe(name, value, "timestamp")
            out.warn(name, f"not an ISO 8601 timestamp: {text!r:.60}; stored as NULL")
            return None
        value = parsed
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            out.warn(name, "timestamp has no UTC offset; UTC assumed")
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00: past year 9999 in UTC
            # a timestamp out of range, quoted or not, is no type drift: a warning only
            out.warn(name, f"timestamp {value.isoformat()} is out of range in UTC; stored as NULL")
            return None
    if isinstance(value, dt.date):
        out.warn(name, "date without a time; midnight UTC assumed")
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    out.observe(name, value, "timestamp")
    out.warn(name, f"expected a timestamp, got {type_name(value)}; stored as NULL")
    return None


_COERCE = {
    "text": to_text,
    "url": to_text,
    "integer": to_int,
    "boolean": to_bool,
    "timestamp": to_timestamp,
}


@dataclass(frozen=True, slots=True)
class _Compiled:
    key: str
    column: str
    coerce: Any
    canonical: type
    minimum: int | None
    maximum: int | None


def _compile(fields: tuple[Field, ...]) -> tuple[_Compiled, ...]:
    return tuple(
        _Compiled(
            key=spec.source.rsplit(".", 1)[-1].rsplit("]", 1)[-1].lstrip("."),
            column=spec.column.split(".", 1)[1],
            coerce=_COERCE[spec.type],
            canonical=_CANONICAL_TYPES[spec.type],
            minimum=spec.minimum,
            maximum=spec.maximum,
        )
        for spec in fields
    )


_CANONICAL_TYPES: dict[str, type] = {
    "text": str, "url": str, "integer": int, "boolean": bool, "timestamp": dt.datetime,
}  # fmt: skip
_COMPILED: dict[int, tuple[tuple[Field, ...], tuple[_Compiled, ...]]] = {}


def coerce_fields(
    data: dict[str, Any], fields: tuple[Field, ...], where: str, out: Collector
) -> dict[str, Any]:
    """Apply the contract's scalar fields to one mapping: {column: value}."""
    # Keyed by identity: the field tuples are the contract's constants, and hashing a tuple of
    # dataclasses on every call cost more than the coercion itself.
    cached = _COMPILED.get(id(fields))
    if cached is None or cached[0] is not fields:
        cached = _COMPILED[id(fields)] = (fields, _compile(fields))
    compiled = cached[1]
    row: dict[str, Any] = {}
    for spec in compiled:
        value = data.get(spec.key)
        kind = value.__class__
        # Fast path: the value already has the contract's type (timestamps only when in UTC).
        if value is None or (
            kind is spec.canonical
            and (kind is not dt.datetime or value.tzinfo is UTC)
            and (kind is not int or -(2**31) <= value < 2**31)
        ):
            pass
        else:
            value = spec.coerce(value, f"{where}{spec.key}", out)
        if value is not None and spec.minimum is not None:
            high = spec.maximum if spec.maximum is not None else value
            if not spec.minimum <= value <= high:
                # Kept, so the warn-level range test on the column reports it (NULL would
                # hide it from the test and from every model).
                name = f"{where}{spec.key}"
                out.warn(name, f"{value} is outside {spec.minimum}..{spec.maximum}; kept")
        row[spec.column] = value
    return row


def to_json(value: dict[str, Any]) -> str | None:
    """Unknown keys as JSON text (sorted keys). None when empty.

    Dates become ISO text, binary becomes hex, NaN/Infinity become text, so the result is always
    valid JSON that DuckDB accepts.
    """
    if not value:
        return None
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=repr)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _list(value: Any, name: str, out: Collector) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    out.observe(name, value, "list")
    out.warn(name, f"expected a list, got {type_name(value)}; ignored")
    return []


def _extra(data: dict[str, Any], known: frozenset[str], where: str, out: Collector) -> dict:
    extra = {k: v for k, v in data.items() if k not in known}
    for key, value in extra.items():
        out.observe(f"{where}{key}", value, None)
    return extra


# -- rows -------------------------------------------------------------------------------------


def _provider(
    value: Any, observed_at: dt.datetime | None, name: str, out: Collector
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any]]:
    """(provider_id, provider row or None, unknown keys)."""
    if value is None:
        out.warn(name, "no provider")
        return None, None, {}
    if isinstance(value, str):  # a documented form: a bare string is the name
        value = {"name": value}
    if not isinstance(value, dict):
        out.observe(name, value, "mapping")
        out.warn(name, f"expected a mapping, got {type_name(value)}; no provider")
        return None, None, {}
    extra = _extra(value, PROVIDER_KEYS, f"{name}.", out)
    raw_domain = value.get("domain")
    if raw_domain is not None and not isinstance(raw_domain, str):
        out.observe(f"{name}.domain", raw_domain, "text")
        out.warn(f"{name}.domain", f"expected text, got {type_name(raw_domain)}; ignored")
    domain = canonical_domain(raw_domain)
    pname = to_text(value.get("name"), f"{name}.name", out)
    pname = _SPACES.sub(" ", pname).strip() or None if pname else None
    if domain:
        provider_id = make_id("provider", domain)
    elif pname:
        out.warn(f"{name}.domain", "provider has no domain; keyed by its name")
        provider_id = make_id("provider-name", pname.casefold())
    else:
        out.warn(name, "provider has neither name nor domain; no provider")
        return None, None, extra
    row = {"provider_id": provider_id, "domain": domain, "name": pname,
           "name_observed_at": observed_at}  # fmt: skip
    return provider_id, row, extra


def _images(
    value: Any, article_id: str, related_id: str | None, name: str, out: Collector
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, image in enumerate(_list(value, name, out), start=1):
        where = f"{name}[{index}]"
        if not isinstance(image, dict):
            out.observe(where, image, "mapping")
            out.warn(where, f"expected a mapping, got {type_name(image)}; image dropped")
            continue
        values = coerce_fields(image, IMAGE_SCALARS, f"{where}.", out)
        url = (values["url"] or "").strip()
        if not url:
            out.warn(f"{where}.url", "image has no url; image dropped")
            continue
        position = len(rows) + 1  # positions count kept images: 1..n without gaps
        rows.append(
            {
                "image_id": make_id("image", article_id, related_id or "", str(position)),
                "article_id": article_id,
                "related_id": related_id,
                "position": position,
                **values,
                "url": url,
                "extra": to_json(_extra(image, IMAGE_KEYS, f"{where}.", out)),
            }
        )
    return rows


def _topics(value: Any, out: Collector) -> list[str]:
    """The topic names, in order; every dropped topic (null, blank, not text, or a repeat of an
    earlier one ignoring case and spaces) with a warning."""
    written = isinstance(value, list)  # a list's numbers can be read back as written
    if isinstance(value, str):  # a documented form: one comma-separated string
        value = value.split(",")
    names: list[str] = []
    seen: dict[str, str] = {}
    for index, topic in enumerate(_list(value, "topics", out), start=1):
        where = f"topics[{index}]"
        if topic is None:
            out.warn(where, "empty topic; dropped")
            continue
        if isinstance(topic, bool) or not isinstance(topic, str | int | float):
            out.observe(where, topic, "text")
            out.warn(where, f"expected text, got {type_name(topic)}; dropped")
            continue
        text = topic if isinstance(topic, str) else None
        if text is None:
            text = (out.written(where) if written else None) or str(topic)
        name = _SPACES.sub(" ", text).strip()
        key = name.casefold()
        if not name:
            out.warn(where, "blank topic; dropped")
            continue
        if key in seen:
            out.warn(where, f"{name!r:.60} repeats topic {seen[key]!r:.60}; dropped")
            continue
        seen[key] = name
        names.append(name)
    return names


def _related(
    entries: list[Any], article_id: str, out: Collector
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(related rows, their images, their providers)."""
    rows: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    providers: list[dict[str, Any]] = []
    for index, entry in enumerate(entries, start=1):
        where = f"related[{index}]"
        if not isinstance(entry, dict):
            out.observe(where, entry, "mapping")
            out.warn(where, f"expected a mapping, got {type_name(entry)}; entry dropped")
            continue
        position = len(rows) + 1  # positions count kept entries: 1..n without gaps
        related_id = make_id("related", article_id, str(position))
        values = coerce_fields(entry, RELATED_SCALARS, f"{where}.", out)
        url = canonical_url(values["web_url"]) or canonical_url(values["original_url"])
        if url is None:
            out.warn(where, "related entry has no webUrl or originalUrl; related_article_id NULL")
        provider_id, provider, provider_extra = _provider(
            entry.get("provider"), values["published_at"], f"{where}.provider", out
        )
        if provider:
            providers.append(provider)
        extra = _extra(entry, RELATED_KEYS, f"{where}.", out)
        if provider_extra:
            extra["provider"] = provider_extra
        rows.append(
            {
                "related_id": related_id,
                "article_id": article_id,
                "position": position,
                "related_article_id": article_id_for(url),
                **values,
                "provider_id": provider_id,
                "extra": to_json(extra),
            }
        )
        images.extend(_images(entry.get("images"), article_id, related_id, f"{where}.images", out))
    return rows, images, providers


def normalize_document(doc: FrontMatter) -> DocumentRows | Rejection:
    """Turn one parsed document into rows for every table, or reject it."""
    data = doc.data
    out = Collector(source=doc.raw)
    for field_name, message in doc.notes:
        out.warn(field_name, message)
    values = coerce_fields(data, ARTICLE_SCALARS, "", out)
    url = canonical_url(values["web_url"]) or canonical_url(values["original_url"])
    if url is None:
        return Rejection(
            doc.path, STAGE, "no webUrl or originalUrl: an article needs a URL to be identified"
            + url_hint(data), sha256=doc.sha256, kind="no_url",
        )  # fmt: skip
    article_id = make_id("article", url)
    extra = _extra(data, ARTICLE_KEYS, "", out)
    provider_id, provider, provider_extra = _provider(
        data.get("provider"), values["published_at"], "provider", out
    )
    providers = [provider] if provider else []
    if provider_extra:
        extra["provider"] = provider_extra
    images = _images(data.get("images"), article_id, None, "images", out)
    related, related_images, related_providers = _related(
        _list(data.get("related"), "related", out), article_id, out
    )
    images.extend(related_images)
    providers.extend(related_providers)
    topic_names = _topics(data.get("topics"), out)
    topics = [{"topic_id": make_id("topic", topic_key(n)), "name": n} for n in topic_names]
    article_topics = [
        {"article_id": article_id, "topic_id": t["topic_id"], "position": i}
        for i, t in enumerate(topics, start=1)
    ]
    article = {
        "article_id": article_id,
        "canonical_url": url,
        "title": values["title"],
        "excerpt": values["excerpt"],
        "category": values["category"],
        "type": values["type"],
        "published_at": values["published_at"],
        "original_url": values["original_url"],
        "web_url": values["web_url"],
        "amp_web_url": values["amp_web_url"],
        "cdn_amp_web_url": values["cdn_amp_web_url"],
        "quality": values["quality"],
        "heat": values["heat"],
        "is_published": values["is_published"],
        "provider_id": provider_id,
        "secured": values["secured"],
        "body": doc.body,
        "extra": to_json(extra),
        "source_path": doc.path,
        "source_sha256": doc.sha256,
    }
    return DocumentRows(
        article, providers, images, related, topics, article_topics,
        out.warnings, out.observations, doc.raw,
    )  # fmt: skip
