"""One document's data -> rows for every table, or a Rejection. The contract lives here.

Rules (see README "Contract"):
- ``article_id`` = first 16 hex chars of sha256(canonical URL); canonical URL = ``webUrl``, else
  ``originalUrl``, trimmed, scheme and host lowercased, fragment dropped. No URL -> rejection.
- ``provider_id`` = id of the canonical domain (lowercase, no leading ``www.``); a provider with a
  name but no domain is keyed by its lowercased name. The latest-published mention's name wins.
- ``topic_id`` = id of the case-folded, whitespace-collapsed name; the name kept is the
  alphabetically first spelling seen, so the result never depends on load order.
- Timestamps become UTC; a naive timestamp is taken as UTC; a date is midnight UTC.
- A value of the wrong type that cannot be coerced loads as NULL with a warning naming the field;
  keys outside the contract are kept in the ``extra`` JSON column of their row.
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

from flows.records import FrontMatter, Rejection

STAGE = "normalize"
UTC = dt.UTC

ARTICLE_KEYS = frozenset(
    {
        "title", "excerpt", "category", "type", "publishedDateTime", "originalUrl", "webUrl",
        "ampWebUrl", "cdnAmpWebUrl", "quality", "heat", "published", "provider", "topics",
        "images", "related", "secured",
    }
)  # fmt: skip
RELATED_KEYS = frozenset(
    {
        "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl", "ampWebUrl",
        "cdnAmpWebUrl", "type", "provider", "quality", "images",
    }
)  # fmt: skip
IMAGE_KEYS = frozenset({"url", "width", "height", "isCached"})
PROVIDER_KEYS = frozenset({"name", "domain"})

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_SPACES = re.compile(r"\s+")
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def snake_case(key: str) -> str:
    """``publishedDateTime`` -> ``published_date_time``; ``isCached`` -> ``is_cached``."""
    return _CAMEL.sub(r"_\1", key).lower()


def make_id(*parts: str) -> str:
    """A deterministic 16-hex-char id from text parts."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def canonical_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
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
        domain = urlsplit(domain).netloc
    domain = domain.split("/", 1)[0].rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain or None


def topic_key(name: str) -> str:
    return _SPACES.sub(" ", name).strip().casefold()


@dataclass
class Collector:
    """Warnings for one document: (field, message)."""

    warnings: list[tuple[str, str]] = field(default_factory=list)

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))


@dataclass
class DocumentRows:
    """Rows of every table produced by one document (staging shape, see ``flows.staging``)."""

    article: dict[str, Any]
    providers: list[dict[str, Any]]
    images: list[dict[str, Any]]
    related: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    article_topics: list[dict[str, Any]]
    warnings: list[tuple[str, str]]


# -- coercion ---------------------------------------------------------------------------------


def to_text(value: Any, name: str, out: Collector) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | dt.date):
        out.warn(name, f"expected text, got {type(value).__name__}; stored as text")
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    out.warn(name, f"expected text, got {type(value).__name__}; stored as NULL")
    return None


def to_int(value: Any, name: str, out: Collector) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        out.warn(name, f"expected a number, got boolean {value}; stored as NULL")
        return None
    if isinstance(value, int):
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
                out.warn(name, f"expected a number, got text {value!r:.60}; stored as NULL")
                return None
        out.warn(name, f"number given as text {value!r:.60}; converted")
        return to_int(number, name, out)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return to_int(int(value), name, out)
        if math.isfinite(value):
            out.warn(name, f"number {value} is not whole; rounded to {round(value)}")
            return to_int(round(value), name, out)
        out.warn(name, f"number {value} is not finite; stored as NULL")
        return None
    out.warn(name, f"expected a number, got {type(value).__name__}; stored as NULL")
    return None


def to_bool(value: Any, name: str, out: Collector) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        out.warn(name, f"boolean given as text {value!r}; converted")
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    out.warn(name, f"expected true/false, got {value!r:.60}; stored as NULL")
    return None


def to_timestamp(value: Any, name: str, out: Collector) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            out.warn(name, f"not an ISO 8601 timestamp: {text!r:.60}; stored as NULL")
            return None
        if len(text) <= len("2021-01-31"):
            value = value.date()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            out.warn(name, "timestamp has no UTC offset; UTC assumed")
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, dt.date):
        out.warn(name, "date without a time; midnight UTC assumed")
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    out.warn(name, f"expected a timestamp, got {type(value).__name__}; stored as NULL")
    return None


def to_json(value: dict[str, Any]) -> str | None:
    """Unknown keys as JSON text (sorted keys); dates become ISO strings. None when empty."""
    if not value:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def _list(value: Any, name: str, out: Collector) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    out.warn(name, f"expected a list, got {type(value).__name__}; ignored")
    return []


def _extra(data: dict[Any, Any], known: frozenset[str]) -> dict[str, Any]:
    return {str(k): v for k, v in data.items() if k not in known}


# -- rows -------------------------------------------------------------------------------------


def _provider(
    value: Any, observed_at: dt.datetime | None, name: str, out: Collector
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any]]:
    """(provider_id, provider row or None, unknown keys)."""
    if value is None:
        out.warn(name, "no provider")
        return None, None, {}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        out.warn(name, f"expected a mapping, got {type(value).__name__}; no provider")
        return None, None, {}
    domain = canonical_domain(value.get("domain"))
    pname = to_text(value.get("name"), f"{name}.name", out)
    pname = pname.strip() if pname and pname.strip() else None
    if domain:
        provider_id = make_id("provider", domain)
    elif pname:
        out.warn(f"{name}.domain", "provider has no domain; keyed by its name")
        provider_id = make_id("provider-name", pname.casefold())
    else:
        out.warn(name, "provider has neither name nor domain; no provider")
        return None, None, _extra(value, PROVIDER_KEYS)
    row = {
        "provider_id": provider_id,
        "domain": domain,
        "name": pname,
        "name_observed_at": observed_at,
    }
    return provider_id, row, _extra(value, PROVIDER_KEYS)


def _images(
    value: Any, article_id: str, related_id: str | None, name: str, out: Collector
) -> list[dict[str, Any]]:
    rows = []
    for position, image in enumerate(_list(value, name, out), start=1):
        where = f"{name}[{position}]"
        if not isinstance(image, dict):
            out.warn(where, f"expected a mapping, got {type(image).__name__}; image dropped")
            continue
        url = to_text(image.get("url"), f"{where}.url", out)
        if not url or not url.strip():
            out.warn(f"{where}.url", "image has no url; image dropped")
            continue
        rows.append(
            {
                "image_id": make_id("image", article_id, related_id or "", str(position)),
                "article_id": article_id,
                "related_id": related_id,
                "position": position,
                "url": url.strip(),
                "width": to_int(image.get("width"), f"{where}.width", out),
                "height": to_int(image.get("height"), f"{where}.height", out),
                "is_cached": to_bool(image.get("isCached"), f"{where}.isCached", out),
                "extra": to_json(_extra(image, IMAGE_KEYS)),
            }
        )
    return rows


def _topics(value: Any, out: Collector) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    names: list[str] = []
    seen: set[str] = set()
    for index, topic in enumerate(_list(value, "topics", out), start=1):
        if isinstance(topic, bool) or not isinstance(topic, str | int | float):
            out.warn(f"topics[{index}]", f"expected text, got {type(topic).__name__}; dropped")
            continue
        name = _SPACES.sub(" ", str(topic)).strip()
        key = name.casefold()
        if not name or key in seen:
            continue
        seen.add(key)
        names.append(name)
    return names


def normalize_document(doc: FrontMatter) -> DocumentRows | Rejection:
    """Turn one parsed document into rows for every table, or reject it."""
    data = doc.data
    out = Collector()
    url = canonical_url(data.get("webUrl")) or canonical_url(data.get("originalUrl"))
    if url is None:
        return Rejection(
            doc.path, STAGE, "no webUrl or originalUrl: an article needs a URL to be identified",
            sha256=doc.sha256,
        )  # fmt: skip
    article_id = article_id_for(url)
    assert article_id is not None
    published_at = to_timestamp(data.get("publishedDateTime"), "publishedDateTime", out)
    extra = _extra(data, ARTICLE_KEYS)
    providers: list[dict[str, Any]] = []
    provider_id, provider_row, provider_extra = _provider(
        data.get("provider"), published_at, "provider", out
    )
    if provider_row:
        providers.append(provider_row)
    if provider_extra:
        extra["provider"] = provider_extra

    images = _images(data.get("images"), article_id, None, "images", out)
    related_rows: list[dict[str, Any]] = []
    for position, entry in enumerate(_list(data.get("related"), "related", out), start=1):
        where = f"related[{position}]"
        if not isinstance(entry, dict):
            out.warn(where, f"expected a mapping, got {type(entry).__name__}; entry dropped")
            continue
        related_id = make_id("related", article_id, str(position))
        rel_url = canonical_url(entry.get("webUrl")) or canonical_url(entry.get("originalUrl"))
        rel_published = to_timestamp(
            entry.get("publishedDateTime"), f"{where}.publishedDateTime", out
        )
        rel_provider_id, rel_provider, rel_provider_extra = _provider(
            entry.get("provider"), rel_published, f"{where}.provider", out
        )
        if rel_provider:
            providers.append(rel_provider)
        rel_extra = _extra(entry, RELATED_KEYS)
        if rel_provider_extra:
            rel_extra["provider"] = rel_provider_extra
        related_rows.append(
            {
                "related_id": related_id,
                "article_id": article_id,
                "position": position,
                "related_article_id": article_id_for(rel_url),
                "title": to_text(entry.get("title"), f"{where}.title", out),
                "excerpt": to_text(entry.get("excerpt"), f"{where}.excerpt", out),
                "published_at": rel_published,
                "original_url": to_text(entry.get("originalUrl"), f"{where}.originalUrl", out),
                "web_url": to_text(entry.get("webUrl"), f"{where}.webUrl", out),
                "amp_web_url": to_text(entry.get("ampWebUrl"), f"{where}.ampWebUrl", out),
                "cdn_amp_web_url": to_text(entry.get("cdnAmpWebUrl"), f"{where}.cdnAmpWebUrl", out),
                "type": to_text(entry.get("type"), f"{where}.type", out),
                "provider_id": rel_provider_id,
                "quality": to_int(entry.get("quality"), f"{where}.quality", out),
                "extra": to_json(rel_extra),
            }
        )
        images.extend(_images(entry.get("images"), article_id, related_id, f"{where}.images", out))

    topic_names = _topics(data.get("topics"), out)
    topics = [{"topic_id": make_id("topic", topic_key(n)), "name": n} for n in topic_names]
    article_topics = [
        {"article_id": article_id, "topic_id": t["topic_id"], "position": i}
        for i, t in enumerate(topics, start=1)
    ]
    article = {
        "article_id": article_id,
        "canonical_url": url,
        "title": to_text(data.get("title"), "title", out),
        "excerpt": to_text(data.get("excerpt"), "excerpt", out),
        "category": to_text(data.get("category"), "category", out),
        "type": to_text(data.get("type"), "type", out),
        "published_at": published_at,
        "original_url": to_text(data.get("originalUrl"), "originalUrl", out),
        "web_url": to_text(data.get("webUrl"), "webUrl", out),
        "amp_web_url": to_text(data.get("ampWebUrl"), "ampWebUrl", out),
        "cdn_amp_web_url": to_text(data.get("cdnAmpWebUrl"), "cdnAmpWebUrl", out),
        "quality": to_int(data.get("quality"), "quality", out),
        "heat": to_int(data.get("heat"), "heat", out),
        "is_published": to_bool(data.get("published"), "published", out),
        "provider_id": provider_id,
        "secured": to_text(data.get("secured"), "secured", out),
        "body": doc.body,
        "extra": to_json(extra),
        "source_path": doc.path,
        "source_sha256": doc.sha256,
    }
    return DocumentRows(
        article, providers, images, related_rows, topics, article_topics, out.warnings
    )
