"""Normalize: golden rows for the real seed document, the coercion rules, and property tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import yaml
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
        ("topics[3]", "'ai' repeats topic 'AI'; dropped"),
    ]
    # Drift: (key path, observed type, contract type; None = not in the contract). Every value
    # here converts without loss ("72", 3.0, "yes", a quoted date, topics as one string), so
    # only the unknown key is drift.
    assert rows.observations == [("language", "text", None)]


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


def _rows(front_matter: str) -> DocumentRows | Rejection:
    from flows.extract.frontmatter import parse_document

    doc = parse_document("x.md", f"---\n{front_matter}---\n".encode())
    assert isinstance(doc, FrontMatter), doc
    return normalize_document(doc)


def _article(front_matter: str) -> DocumentRows:
    rows = _rows("webUrl: https://example.com/a\n" + front_matter)
    assert isinstance(rows, DocumentRows)
    return rows


def test_a_one_digit_hour_and_a_spaced_offset_load_quoted_or_not() -> None:
    plain = _article("publishedDateTime: 2024-03-21 4:00:00 +00:00\n")
    quoted = _article('publishedDateTime: "2024-03-21 4:00:00 +00:00"\n')
    single = _article("publishedDateTime: '2024-03-21 4:00:00 +02:00'\n")
    assert plain.article["published_at"] == dt.datetime(2024, 3, 21, 4, tzinfo=UTC)
    assert quoted.article["published_at"] == dt.datetime(2024, 3, 21, 4, tzinfo=UTC)
    assert single.article["published_at"] == dt.datetime(2024, 3, 21, 2, tzinfo=UTC)
    for rows in (plain, quoted, single):
        assert (rows.warnings, rows.observations) == ([("provider", "no provider")], [])


_TIMESTAMP_TEXT = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, tz: (
        f"{y:04}-{mo}-{d}" if sep is None else f"{y:04}-{mo}-{d}{sep}{h}:{mi:02}:{s:02}{frac}{tz}"
    ),
    st.integers(1900, 2100),
    st.sampled_from(["01", "1", "09", "12"]),
    st.sampled_from(["01", "7", "28"]),
    st.sampled_from([None, "T", "t", " ", "  "]),
    st.sampled_from(["0", "4", "04", "23"]),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".", ".5", ".123", ".123456", ".1234567"]),
    st.sampled_from(["", "Z", "+00:00", " +00:00", "-05:00", " -5", "+0530"[:3], "+05:30"]),
)


@settings(max_examples=200, deadline=None)
@given(text=_TIMESTAMP_TEXT, quote=st.sampled_from(['"', "'"]))
def test_a_timestamp_gives_the_same_result_quoted_or_not(text: str, quote: str) -> None:
    """Property: quoting a timestamp (in YAML's timestamp form, or any text) never changes the
    stored value, the warnings or the drift."""
    plain = _rows(f"webUrl: https://example.com/a\npublishedDateTime: {text}\n")
    quoted = _rows(f"webUrl: https://example.com/a\npublishedDateTime: {quote}{text}{quote}\n")
    assert isinstance(plain, DocumentRows) and isinstance(quoted, DocumentRows)
    assert quoted.article["published_at"] == plain.article["published_at"]
    if isinstance(yaml.safe_load(f"x: {text}")["x"], dt.date):  # YAML's form: it loads
        assert quoted.article["published_at"] is not None
    assert (quoted.warnings, quoted.observations) == (plain.warnings, plain.observations)


def test_text_fields_keep_the_scalar_as_written() -> None:
    rows = _article(
        "secured: 0777\ntitle: 1.50\nexcerpt: yes\ncategory: 2021-01-02 03:04:05\n"
        "type: 0x1F\nrelated:\n  - title: 007\n    webUrl: https://example.com/b\n"
        "topics: [2020, 3.10, Tech]\nprovider:\n  name: 0123\n  domain: example.com\n"
    )
    article = rows.article
    assert (article["secured"], article["title"], article["excerpt"]) == ("0777", "1.50", "yes")
    assert (article["category"], article["type"]) == ("2021-01-02 03:04:05", "0x1F")
    assert rows.related[0]["title"] == "007"
    assert [t["name"] for t in rows.topics] == ["2020", "3.10", "Tech"]
    assert rows.providers[0]["name"] == "0123"
    assert ("secured", "expected text, got integer; stored as written") in rows.warnings
    assert rows.observations == []  # stored as written: not drift


def test_an_out_of_range_quality_is_kept_with_a_warning() -> None:
    rows = _article("quality: 150\nrelated:\n  - webUrl: https://example.com/b\n    quality: -1\n")
    assert (rows.article["quality"], rows.related[0]["quality"]) == (150, -1)
    assert rows.warnings == [
        ("quality", "150 is outside 0..100; kept"),
        ("provider", "no provider"),
        ("related[1].quality", "-1 is outside 0..100; kept"),
        ("related[1].provider", "no provider"),
    ]


def test_every_dropped_topic_is_warned() -> None:
    rows = _article("topics: [AI, '  ', ai, null, ' A  I', 'Data  Science', data science, [x]]\n")
    assert [t["name"] for t in rows.topics] == ["AI", "A I", "Data Science"]
    assert [w for w in rows.warnings if w[0].startswith("topics")] == [
        ("topics[2]", "blank topic; dropped"),
        ("topics[3]", "'ai' repeats topic 'AI'; dropped"),
        ("topics[4]", "empty topic; dropped"),
        ("topics[7]", "'data science' repeats topic 'Data Science'; dropped"),
        ("topics[8]", "expected text, got list; dropped"),
    ]
    assert rows.observations == [("topics[]", "list", "text")]


def test_drift_counts_only_values_not_stored_as_given() -> None:
    rows = _article(
        "quality: '72.5'\nheat: [1]\npublished: maybe\npublishedDateTime: 'soon'\n"
        "title: {a: 1}\nimages: 3\nprovider: 7\nsecured: '0777'\nlanguage: en\n"
    )
    assert rows.observations == [
        ("title", "mapping", "text"),
        ("publishedDateTime", "text", "timestamp"),
        ("quality", "text", "integer"),
        ("heat", "list", "integer"),
        ("published", "text", "boolean"),
        ("language", "text", None),
        ("provider", "integer", "mapping"),
        ("images", "integer", "list"),
    ]
    assert (rows.article["quality"], rows.article["secured"]) == (72, "0777")


_SCALAR_TOKEN = st.one_of(
    st.from_regex(r"\A[-+]?(0[0-7]{1,4}|0o[0-7]{1,3}|0x[0-9A-F]{1,3}|[0-9]{1,3}(_[0-9]{3})?)\Z"),
    st.from_regex(r"\A[-+]?[0-9]{1,3}\.[0-9]{0,3}(e[-+]?[0-9])?\Z"),
    st.sampled_from(["yes", "No", "ON", "off", "true", "~", "null", ".inf", "1:30", "2021-01-02",
                     "2021-01-02 03:04:05", "1_000", "0777", "00", "-0"]),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(token=_SCALAR_TOKEN, key=st.sampled_from(["secured", "title", "category"]))
def test_a_text_field_stores_a_plain_scalar_as_written(token: str, key: str) -> None:
    """Property: whatever YAML 1.1 makes of a plain scalar (octal, sexagesimal, boolean,
    date...), a text field stores its text; quoted or not gives the same value. Only a plain
    null (``~``, ``null``) stays NULL."""
    plain = _article(f"{key}: {token}\n")
    quoted = _article(f"{key}: '{token}'\n")
    assert quoted.article[key] == token
    assert plain.article[key] == (None if token in ("~", "null") else token)
    assert plain.observations == quoted.observations == []
