"""Normalize: golden rows for the real seed document, the coercion rules, and property tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract.frontmatter import read_document
from flows.normalize.document import (
    Collector,
    DocumentRows,
    canonical_domain,
    canonical_url,
    make_id,
    normalize_document,
    snake_case,
    split_canonical,
    to_bool,
    to_int,
    to_timestamp,
)
from flows.records import FrontMatter, Rejection
from tests import golden_seed
from tests.conftest import CORPUS, SEED

UTC = dt.UTC


def _normalize(path=SEED) -> DocumentRows:
    doc = read_document(path, 1_000_000)
    assert isinstance(doc, FrontMatter)
    rows = normalize_document(doc)
    assert isinstance(rows, DocumentRows)
    return rows


def test_seed_document_golden_rows() -> None:
    rows = _normalize()
    expected_article = {**golden_seed.ARTICLE, "source_path": SEED.as_posix()}
    assert rows.article == expected_article
    assert rows.providers == golden_seed.PROVIDERS
    assert rows.related == golden_seed.RELATED
    assert rows.images == golden_seed.IMAGES
    assert rows.topics == golden_seed.TOPICS
    assert rows.article_topics == golden_seed.ARTICLE_TOPICS
    assert rows.warnings == golden_seed.WARNINGS == []


def test_ids_follow_the_documented_rule() -> None:
    rows = _normalize()
    url = "https://www.aljazeera.com/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report"
    assert (
        rows.article["article_id"] == hashlib.sha256(f"article\x1f{url}".encode()).hexdigest()[:16]
    )
    assert rows.article["provider_id"] == make_id("provider", "aljazeera.com")
    reuters = "https://www.reuters.com/article/alibaba-surveillance-idINKBN28R0KP"
    assert rows.related[0]["related_article_id"] == make_id("article", reuters)
    assert rows.related[0]["related_id"] == make_id("related", rows.article["article_id"], "1")
    assert [t["topic_id"] for t in rows.topics] == [
        make_id("topic", "natural language processing"), make_id("topic", "ai"),
        make_id("topic", "computer vision"),
    ]  # fmt: skip


def test_coercions_and_unknown_keys() -> None:
    rows = _normalize(CORPUS / "dashes_in_value.txt")
    article = rows.article
    assert article["published_at"] == dt.datetime(2021, 3, 1, tzinfo=UTC)
    assert (article["quality"], article["heat"], article["is_published"]) == (72, 3, True)
    assert json.loads(article["extra"]) == {"language": "en"}
    assert [t["name"] for t in rows.topics] == ["AI", "machine learning"]
    assert [(i["position"], i["width"], i["height"], i["is_cached"]) for i in rows.images] == [
        (1, 640, 480, False)
    ]
    assert rows.warnings == [
        ("publishedDateTime", "date without a time; midnight UTC assumed"),
        ("quality", "number given as text '72'; converted"),
        ("published", "boolean given as text 'yes'; converted"),
        ("images[1].width", "number given as text '640'; converted"),
        ("images[2].url", "image has no url; image dropped"),
    ]
    # Drift: (key path, observed type, contract type; None = not in the contract).
    assert rows.observations == [
        ("publishedDateTime", "text", "timestamp"),
        ("quality", "text", "integer"),
        ("heat", "float", "integer"),
        ("published", "text", "boolean"),
        ("language", "text", None),
        ("images[].width", "text", "integer"),
        ("topics", "text", "list"),
    ]


def test_bom_crlf_document_domain_and_offset() -> None:
    rows = _normalize(CORPUS / "bom_crlf.md")
    assert rows.article["canonical_url"] == "https://example.com/bom-crlf"
    assert rows.article["web_url"] == "https://Example.COM/bom-crlf#top"
    assert rows.article["published_at"] == dt.datetime(2021, 2, 3, 2, 5, 6, tzinfo=UTC)
    assert rows.providers == [
        {"provider_id": make_id("provider", "example.com"), "domain": "example.com",
         "name": "Example News", "name_observed_at": dt.datetime(2021, 2, 3, 2, 5, 6, tzinfo=UTC)}
    ]  # fmt: skip


def test_document_without_url_is_rejected() -> None:
    doc = read_document(CORPUS / "no_url.md", 10_000)
    assert isinstance(doc, FrontMatter)
    result = normalize_document(doc)
    assert isinstance(result, Rejection)
    assert (result.stage, result.reason) == (
        "normalize", "no webUrl or originalUrl: an article needs a URL to be identified",
    )  # fmt: skip


def test_original_url_is_the_fallback_identity() -> None:
    doc = FrontMatter("x.md", "0" * 64, {"originalUrl": " HTTPS://A.example/x?q=1#f "}, None)
    rows = normalize_document(doc)
    assert isinstance(rows, DocumentRows)
    assert rows.article["canonical_url"] == "https://a.example/x?q=1"
    assert rows.article["provider_id"] is None
    assert rows.warnings == [("provider", "no provider")]


@pytest.mark.parametrize(
    ("key", "expected"),
    [("publishedDateTime", "published_date_time"), ("isCached", "is_cached"),
     ("cdnAmpWebUrl", "cdn_amp_web_url"), ("title", "title")],
)  # fmt: skip
def test_snake_case(key: str, expected: str) -> None:
    assert snake_case(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("WWW.Reuters.com", "reuters.com"), (" theverge.com. ", "theverge.com"),
     ("https://www.bbc.co.uk/news", "bbc.co.uk"), ("", None), (None, None), (42, None)],
)  # fmt: skip
def test_canonical_domain(value: object, expected: str | None) -> None:
    assert canonical_domain(value) == expected


def test_canonical_url_keeps_path_case_and_query() -> None:
    assert canonical_url("HTTPS://WWW.X.COM/A/B?Z=1#frag") == "https://www.x.com/A/B?Z=1"
    assert canonical_url("   ") is None


@pytest.mark.parametrize(
    ("value", "expected", "warned"),
    [(61, 61, False), (61.0, 61, False), ("61", 61, True), ("6.5", 6, True), (6.5, 6, True),
     (True, None, True), ("high", None, True), (2**40, None, True), (float("nan"), None, True),
     (None, None, False), ([1], None, True)],
)  # fmt: skip
def test_to_int(value: object, expected: int | None, warned: bool) -> None:
    out = Collector()
    assert to_int(value, "quality", out) == expected
    assert bool(out.warnings) is warned


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("no", False), ("TRUE", True), (1, True), (0, False), ("maybe", None), (None, None)],
)  # fmt: skip
def test_to_bool(value: object, expected: bool | None) -> None:
    assert to_bool(value, "published", Collector()) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
            dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC),
        ),
        ("2020-12-17T19:43:00+02:00", dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC)),
        ("2020-12-17T17:43:00Z", dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC)),
        ("2020-12-17 17:43", dt.datetime(2020, 12, 17, 17, 43, tzinfo=UTC)),
        (dt.date(2020, 12, 17), dt.datetime(2020, 12, 17, tzinfo=UTC)),
        ("yesterday", None),
        (12, None),
    ],
)
def test_to_timestamp(value: object, expected: dt.datetime | None) -> None:
    assert to_timestamp(value, "publishedDateTime", Collector()) == expected


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_values = st.recursive(
    _scalars | st.dates() | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["title", "webUrl", "originalUrl", "publishedDateTime", "quality", "heat", "published",
     "provider", "topics", "images", "related", "secured", "other"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys | st.text(max_size=8), _values, max_size=10))
def test_any_mapping_gives_rows_or_a_rejection(data: dict) -> None:
    result = normalize_document(FrontMatter("p.txt", "0" * 64, data, None))
    assert isinstance(result, DocumentRows | Rejection)
    if isinstance(result, DocumentRows):
        assert result.article["article_id"]
        assert all(i["article_id"] == result.article["article_id"] for i in result.images)
        assert len({i["image_id"] for i in result.images}) == len(result.images)
        assert len({t["topic_id"] for t in result.topics}) == len(result.topics)


_URL_PIECES = st.sampled_from(
    [*"aZ09:/?#.-+_ \t%&=é[]@", "http://", "https://", "HTTP://", "//", "www.", "?q=1"]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_URL_PIECES, max_size=12).map("".join))
def test_canonical_url_shortcut_agrees_with_urlsplit(url: str) -> None:
    if url.strip():
        assert canonical_url(url) == split_canonical(url.strip())


def test_a_timestamp_past_year_9999_in_utc_is_null_with_a_warning() -> None:
    from flows.normalize.document import Collector, to_timestamp

    out = Collector()
    late = dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    early = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert to_timestamp(late, "publishedDateTime", out) is None
    assert to_timestamp(early.isoformat(), "related[1].publishedDateTime", out) is None
    assert out.warnings == [
        ("publishedDateTime",
         "timestamp 9999-12-31T23:30:00-05:00 is out of range in UTC; stored as NULL"),
        ("related[1].publishedDateTime",
         "timestamp 0001-01-01T00:00:00+05:00 is out of range in UTC; stored as NULL"),
    ]  # fmt: skip
