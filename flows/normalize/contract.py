"""The declared contract: every source field, its column, type, whether required, and its rule.

This table drives :mod:`~flows.normalize.document` (which keys are known, how each scalar is
coerced) and is rendered into the README by ``newsflow contract``. Paths use ``[]`` for list items.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.text import markdown_table

# Bump when extraction or normalization changes what a file produces: every file loaded under an
# older version is then parsed again on the next run.
CONTRACT_VERSION = "4"

REJECT = "reject the document"
NULL_WARN = "NULL + warning"
DROP_WARN = "drop + warning"


@dataclass(frozen=True)
class Field:
    source: str
    column: str
    type: str
    required: bool
    rule: str
    on_failure: str
    minimum: int | None = None
    maximum: int | None = None


_TEXT = (
    "text as is; a number, boolean or date is kept as written (`0777`, `1.50`, `yes`; "
    "warning); lists/mappings NULL"
)
_INT = (
    "integers; whole floats accepted; numeric text converted (warning); fractions rounded "
    "half-to-even (warning); booleans and other types NULL"
)
_BOOL = "true/false; text yes/no/on/off/true/false/1/0 and integers 0/1 converted (warning)"
_TS = (
    "ISO 8601 or YAML's timestamp form (one-digit hour, space before the offset), the same "
    "quoted or not; offsets converted to UTC; no offset = UTC (warning); "
    "a date = midnight UTC (warning)"
)
_RANGE = "range 0..100: a value outside is kept (warning) and the warn-level range test reports it"
_URL = "text; canonical form for ids: trimmed, scheme and host lowercased, #fragment dropped"

CONTRACT: tuple[Field, ...] = (
    Field("webUrl", "article.web_url", "url", True,
          _URL + "; identity of the article (else originalUrl)", REJECT + " if no URL at all"),
    Field("originalUrl", "article.original_url", "url", False,
          _URL + "; identity when webUrl is missing", NULL_WARN),
    Field("ampWebUrl", "article.amp_web_url", "url", False, _URL, NULL_WARN),
    Field("cdnAmpWebUrl", "article.cdn_amp_web_url", "url", False, _URL, NULL_WARN),
    Field("title", "article.title", "text", False, _TEXT, NULL_WARN),
    Field("excerpt", "article.excerpt", "text", False, _TEXT, NULL_WARN),
    Field("category", "article.category", "text", False, _TEXT, NULL_WARN),
    Field("type", "article.type", "text", False, _TEXT, NULL_WARN),
    Field("publishedDateTime", "article.published_at", "timestamp", False, _TS, NULL_WARN),
    Field("quality", "article.quality", "integer", False, _INT + "; " + _RANGE,
          NULL_WARN, 0, 100),
    Field("heat", "article.heat", "integer", False, _INT, NULL_WARN),
    Field("published", "article.is_published", "boolean", False, _BOOL, NULL_WARN),
    Field("secured", "article.secured", "text", False, "opaque text, never interpreted",
          NULL_WARN),
    Field("provider", "article.provider_id", "mapping", False,
          "mapping {name, domain}; a bare string is the name; missing = no provider (warning)",
          NULL_WARN),
    Field("provider.domain", "provider.domain", "domain", False,
          "lowercased, leading www. and trailing dot removed, URL reduced to its host; "
          "key of the provider (else its lowercased name)", NULL_WARN),
    Field("provider.name", "provider.name", "text", False,
          _TEXT + "; trimmed; the latest-published mention's name wins (ties: see the "
          "provider-name rule in docs/contract.md)", NULL_WARN),
    Field("topics", "topic.name / article_topic", "list", False,
          "list of text, or one comma-separated string; trimmed, inner spaces collapsed; "
          "blank, null and duplicate (case-insensitive) topics dropped, each with a warning",
          DROP_WARN),
    Field("images", "image", "list", False, "list of mappings; non-mappings dropped", DROP_WARN),
    Field("images[].url", "image.url", "text", True, "trimmed text", DROP_WARN + " (the image)"),
    Field("images[].width", "image.width", "integer", False, _INT, NULL_WARN),
    Field("images[].height", "image.height", "integer", False, _INT, NULL_WARN),
    Field("images[].isCached", "image.is_cached", "boolean", False, _BOOL, NULL_WARN),
    Field("related", "related", "list", False, "list of mappings; non-mappings dropped",
          DROP_WARN),
    Field("related[].webUrl", "related.web_url", "url", False,
          _URL + "; related_article_id from it (else originalUrl); none = NULL (warning)",
          NULL_WARN),
    Field("related[].originalUrl", "related.original_url", "url", False, _URL, NULL_WARN),
    Field("related[].ampWebUrl", "related.amp_web_url", "url", False, _URL, NULL_WARN),
    Field("related[].cdnAmpWebUrl", "related.cdn_amp_web_url", "url", False, _URL, NULL_WARN),
    Field("related[].title", "related.title", "text", False, _TEXT, NULL_WARN),
    Field("related[].excerpt", "related.excerpt", "text", False, _TEXT, NULL_WARN),
    Field("related[].type", "related.type", "text", False, _TEXT, NULL_WARN),
    Field("related[].publishedDateTime", "related.published_at", "timestamp", False, _TS,
          NULL_WARN),
    Field("related[].quality", "related.quality", "integer", False, _INT + "; " + _RANGE,
          NULL_WARN, 0, 100),
    Field("related[].provider", "related.provider_id", "mapping", False,
          "as provider; lands in the provider table too", NULL_WARN),
    Field("related[].images", "image (related_id set)", "list", False, "as images", DROP_WARN),
    Field("(any other key)", "<table>.extra", "json", False,
          "kept as JSON (sorted keys; dates as ISO text, binary as hex, NaN/Infinity as text) "
          "in article/related/image.extra, and reported in the run's drift report", "—"),
    Field("(body after the block)", "article.body", "text", False,
          "verbatim, CRLF as LF; NULL when blank", "—"),
)  # fmt: skip

SCALAR_TYPES = frozenset({"text", "url", "integer", "boolean", "timestamp"})


def scalar_fields(prefix: str) -> tuple[Field, ...]:
    """The scalar fields directly under ``prefix`` ('' = article, 'related[].', 'images[].')."""
    return tuple(
        f
        for f in CONTRACT
        if f.type in SCALAR_TYPES
        and not f.source.startswith("(")
        and f.source.startswith(prefix)
        and "." not in f.source[len(prefix) :]
        and "[" not in f.source[len(prefix) :]
    )


def known_keys(prefix: str) -> frozenset[str]:
    """Keys the contract knows directly under ``prefix``."""
    keys = set()
    for f in CONTRACT:
        if f.source.startswith(prefix) and not f.source.startswith("("):
            rest = f.source[len(prefix) :]
            keys.add(rest.split(".")[0].split("[")[0])
    return frozenset(k for k in keys if k)


def render_markdown() -> str:
    """The contract as a Markdown table (README section 'Contract')."""
    lines = markdown_table(
        ["source field", "column", "type", "required", "rule", "when it cannot be coerced"],
        [
            [f"`{f.source}`", f"`{f.column}`", f.type, "yes" if f.required else "no", f.rule,
             f.on_failure]
            for f in CONTRACT
        ],
    )  # fmt: skip
    return "\n".join(lines) + "\n"
