"""Normalize: source profiles map Hugo, Jekyll and blog front matter to the contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract.discover import discover
from flows.extract.frontmatter import read_document
from flows.normalize.contract import CONTRACT_VERSION
from flows.normalize.document import DocumentRows, normalize_document
from flows.normalize.profile import (
    Profile,
    ProfileError,
    load_profile,
    profile_from,
    resolve_profile,
    source_config,
)
from flows.records import FrontMatter, Rejection

SITES = Path(__file__).resolve().parents[1] / "fixtures" / "sites"
UTC = dt.UTC


def load_site(site: str, profile: str, base_url: str | None) -> dict[str, Any]:
    """Every file of a fixture site -> its row summary, or (kind, reason) when rejected."""
    root = SITES / site
    chosen = load_profile(profile).for_run(base_url, (str(root),))
    out: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        doc: FrontMatter | Rejection = read_document(path, 1 << 20, not chosen.is_default)
        if isinstance(doc, FrontMatter):
            doc = chosen.apply(doc)
        result = doc if isinstance(doc, Rejection) else normalize_document(doc)
        rel = path.relative_to(root).as_posix()
        out[rel] = _summary(result)
    return out


def _summary(result: DocumentRows | Rejection) -> Any:
    if isinstance(result, Rejection):
        return (result.kind, result.reason)
    a = result.article
    return (
        a["canonical_url"], a["title"], a["published_at"], a["is_published"], a["excerpt"],
        [t["name"] for t in result.topics], [i["url"] for i in result.images],
        [(p["name"], p["domain"]) for p in result.providers], a["extra"],
    )  # fmt: skip


def _tz(hours: float) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


HUGO = "https://hugo.example.org"
PROVIDER_H = [("hugo.example.org", "hugo.example.org")]


def test_hugo_site_loads_every_post_with_exact_values() -> None:
    assert load_site("hugo", "hugo", HUGO) == {
        "content/_index.md": ("not_an_article",
                              "_index.md is a list page, not an article (profile hugo)"),
        "content/about.md": ("not_an_article", "page has no date (date | publishDate | pubdate | "
                             "published | lastmod | modified, file name, URL): not a post (profile hugo)"),
        "content/posts/_index.md": ("not_an_article",
                                    "_index.md is a list page, not an article (profile hugo)"),
        "content/posts/draft.md": (
            f"{HUGO}/posts/draft/", "Not yet", dt.datetime(2024, 7, 1, 17, tzinfo=UTC), False,
            None, [], [], PROVIDER_H, None),
        "content/posts/first-post.md": (
            f"{HUGO}/posts/first-post/", "First post", dt.datetime(2024, 3, 21, 0, 30, tzinfo=UTC),
            True, "The very first post.", ["Go", "Hugo", "news"], [f"{HUGO}/img/first.png"],
            PROVIDER_H, '{"author": "Ana", "weight": 10}'),
        "content/posts/json-post.md": (
            f"{HUGO}/special/json/", "JSON front matter",
            dt.datetime(2024, 8, 15, 4, 45, tzinfo=UTC), None, None, ["json"], [], PROVIDER_H,
            None),
        "content/posts/no-title.md": (
            f"{HUGO}/posts/no-title/", "no-title", dt.datetime(2024, 9, 9, tzinfo=UTC), None, None,
            [], [], PROVIDER_H, None),
        "content/posts/post.ja.md": (
            f"{HUGO}/ja/posts/post/", "日本語の記事", dt.datetime(2024, 6, 1, 1, tzinfo=UTC), None,
            None, ["旅行"], [], PROVIDER_H, None),
        "content/posts/toml-post.md": (
            f"{HUGO}/posts/custom-slug/", "A post in TOML", dt.datetime(2024, 4, 2, 8, tzinfo=UTC),
            None, "Written with plus signs.", ["TOML", "hugo"], [f"{HUGO}/img/cover.jpg"],
            PROVIDER_H, '{"author": "Bo", "cover": {"alt": "a cover", "image": "/img/cover.jpg"}, '
            '"params": {"author": "Bo"}, "slug": "Custom Slug"}'),
        "content/posts/trip/index.md": (
            f"{HUGO}/posts/trip/", "A page bundle", dt.datetime(2024, 5, 1, tzinfo=UTC), None, None,
            ["travel"], [f"{HUGO}/posts/trip/trip.jpg"], PROVIDER_H, None),
    }  # fmt: skip


JEKYLL = "https://jekyll.example.com"
PROVIDER_J = [("jekyll.example.com", "jekyll.example.com")]


def test_jekyll_blog_loads_every_post_with_exact_values() -> None:
    assert load_site("jekyll", "jekyll", JEKYLL) == {
        "_posts/2024-01-15-welcome-to-jekyll.md": (
            f"{JEKYLL}/jekyll/update/2024/01/15/welcome-to-jekyll.html", "Welcome to Jekyll!",
            dt.datetime(2024, 1, 15, 1, tzinfo=UTC), None, None, ["jekyll", "update"], [],
            PROVIDER_J, None),
        "_posts/2024-02-01-permalink-post.md": (
            f"{JEKYLL}/custom/permalink/", "A post with its own permalink",
            dt.datetime(2024, 2, 1, tzinfo=UTC), None, "Short.", ["a", "b"],
            [f"{JEKYLL}/assets/p.png"], PROVIDER_J, '{"author": {"name": "Cy"}}'),
        "_posts/2024-03-10-no-date-key.markdown": (
            f"{JEKYLL}/releases/2024/03/10/no-date-key.html", "The date comes from the file name",
            dt.datetime(2024, 3, 10, tzinfo=UTC), True, None, ["Releases"], [], PROVIDER_J,
            None),
        "about.md": ("not_an_article", "page has no date (date, file name, URL): not a post (profile jekyll)"),
        "news/_posts/2024-04-01-in-folder.md": (
            f"{JEKYLL}/news/2024/04/01/in-folder.html", "In a category folder",
            dt.datetime(2024, 4, 1, 11, 5, tzinfo=UTC), None, None, [], [], PROVIDER_J, None),
    }  # fmt: skip


def test_a_plain_blog_loads_with_a_profile_written_for_it() -> None:
    blog = "https://blog.example.net"
    provider = [("Example Blog", "blog.example.net")]
    assert load_site("blog", str(SITES / "blog.profile.toml"), blog) == {
        "posts/2023/hello.md": (
            f"{blog}/hello", "Hello, blog", dt.datetime(2023, 11, 5, tzinfo=UTC), None,
            "A plain blog post.", ["intro", "meta"], [], provider, None),
        "posts/second.md": (
            f"{blog}/posts/second/", "Second", dt.datetime(2023, 12, 1, 8, tzinfo=UTC), None, None,
            ["meta"], [], provider, None),
    }  # fmt: skip


def test_under_the_default_profile_the_sites_are_rejected_with_hints() -> None:
    rows = load_site("hugo", "default", None)
    no_url = "no webUrl or originalUrl: an article needs a URL to be identified"
    assert rows["content/about.md"] == (
        "no_url", no_url + " (found url: /about/ — pass --profile hugo|jekyll and --base-url, "
        "or map it)",
    )  # fmt: skip
    assert rows["content/posts/first-post.md"] == ("no_url", no_url)
    assert {kind for kind, _ in rows.values()} == {"no_url"}
    jekyll = load_site("jekyll", "default", None)
    assert jekyll["_posts/2024-02-01-permalink-post.md"] == (
        "no_url", no_url + " (found permalink: /custom/permalink/ — pass --profile hugo|jekyll "
        "and --base-url, or map it)",
    )  # fmt: skip
    assert len(jekyll) == 5 and {kind for kind, _ in jekyll.values()} == {"no_url"}


def test_without_a_base_url_a_relative_url_is_rejected_naming_the_key() -> None:
    rows = load_site("hugo", "hugo", None)
    assert rows["content/posts/json-post.md"] == (
        "no_url", "found url: /special/json/ — pass --base-url (the site's address) to resolve it"
    )  # fmt: skip
    assert rows["content/posts/first-post.md"] == (
        "no_url", "found path: /posts/first-post/ — pass --base-url (the site's address) to "
        "resolve it",
    )  # fmt: skip


def test_a_document_with_its_own_web_url_keeps_it_under_any_profile() -> None:
    doc = FrontMatter("/s/content/posts/x.md", "0" * 64,
                      {"webUrl": "https://feed.example/x", "date": "2024-01-02"}, None)  # fmt: skip
    mapped = load_profile("hugo").for_run(HUGO, ("/s",)).apply(doc)
    assert isinstance(mapped, FrontMatter)
    assert mapped.data["webUrl"] == "https://feed.example/x"
    assert mapped.data["publishedDateTime"] == dt.date(2024, 1, 2)


def test_the_default_profile_changes_nothing_and_keeps_the_contract_version() -> None:
    default = load_profile("default")
    doc = FrontMatter("a.md", "0" * 64, {"url": "/x", "date": 1}, None)
    assert default.is_default and default.apply(doc) is doc
    assert default.ledger_version() == CONTRACT_VERSION == "4"


def test_the_ledger_version_names_the_profile_and_changes_with_its_file() -> None:
    text = 'name = "mine"\nversion = "2"\nurl_keys = ["link"]\n'
    one = profile_from({"name": "mine", "version": "2", "url_keys": ["link"]}, text)
    two = profile_from({"name": "mine", "version": "2", "url_keys": ["href"]}, text + "#\n")
    assert one.ledger_version().startswith("4+mine@2:")
    assert one.ledger_version() != two.ledger_version()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"keys": {"webUrl2": ["x"]}}, "keys: not contract keys: webUrl2"),
        ({"derive_url": "gatsby"}, "derive_url must be 'hugo' or 'jekyll'"),
        ({"colour": 1}, "unknown profile setting(s): colour"),
        ({"duplicate_keys": "first"}, "duplicate_keys must be 'reject' or 'last'"),
        ({"url_keys": 3}, "url_keys must be a key or a list of keys"),
    ],
)
def test_a_bad_profile_is_refused_with_what_is_wrong(spec: dict, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_from(spec, "")
    assert str(caught.value).startswith(message)


def test_an_unknown_profile_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown profile 'gatsby': pass one of blog, default, hugo, "
                       "jekyll or the path of a profile file"):  # fmt: skip
        load_profile("gatsby")
    yaml_profile = tmp_path / "mine.yaml"
    yaml_profile.write_text("name: mine\nurl_keys: [link]\nkeys:\n  topics: [labels]\n")
    loaded = load_profile(str(yaml_profile))
    assert isinstance(loaded, Profile)
    assert (loaded.name, loaded.url_keys, loaded.keys) == ("mine", ("link",),
                                                           {"topics": ("labels",)})  # fmt: skip


@pytest.mark.parametrize(
    ("path", "data", "url", "published"),
    [
        ("/r/site/content/en/blog/Hello World.md", {"date": "2024-01-02", "draft": "true"},
         "https://ex.org/blog/en/blog/hello-world/", False),
        ("/r/posts/a.md", {"date": "2024-01-02", "url": "/x/"}, "https://ex.org/blog/x/", None),
        ("/r/posts/a.md", {"date": "2024-01-02", "url": "https://other.example/y"},
         "https://other.example/y", None),
    ],
)  # fmt: skip
def test_hugo_urls_sit_under_the_base_urls_path(
    path: str, data: dict, url: str, published: bool | None
) -> None:
    profile = load_profile("hugo").for_run("https://ex.org/blog", ("/r",))
    mapped = profile.apply(FrontMatter(path, "0" * 64, data, None))
    assert isinstance(mapped, FrontMatter)
    assert (mapped.data["webUrl"], mapped.data.get("published")) == (url, published)


_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.dates().map(lambda d: d) | st.datetimes(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10,
)  # fmt: skip
_keys = st.sampled_from(["date", "url", "permalink", "slug", "tags", "categories", "images",
                         "image", "cover", "draft", "title", "summary", "author", "x"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["hugo", "jekyll"]),
    st.sampled_from(["/r/content/posts/a.md", "/r/_posts/2024-01-02-a b.md", "/r/x/index.ja.md",
                     "/r/_index.md", "/elsewhere/a.md"]),
    st.dictionaries(_keys, _any, max_size=8),
)  # fmt: skip
def test_any_front_matter_becomes_rows_or_a_rejection_under_a_profile(
    name: str, path: str, data: dict
) -> None:
    profile = load_profile(name).for_run("https://ex.org/", ("/r",))
    mapped = profile.apply(FrontMatter(path, "0" * 64, data, None))
    if isinstance(mapped, Rejection):
        assert mapped.kind in {"no_url", "not_an_article"}
        return
    rows = normalize_document(mapped)
    assert isinstance(rows, DocumentRows)
    assert rows.article["canonical_url"]  # a URL from a key, or derived under the base URL
    if not {"url", "permalink"} & set(data):
        assert rows.article["canonical_url"].startswith("https://ex.org/")


def test_a_newsflow_toml_beside_the_source_chooses_the_profile_unless_a_flag_does(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "newsflow.toml").write_text('profile = "mine.toml"\nbase_url = "https://m.example"\n')
    (site / "mine.toml").write_text('name = "mine"\nurl_keys = ["link"]\n')
    chosen = resolve_profile("default", None, (str(site),))
    assert (chosen.name, chosen.url_keys, chosen.base_url) == ("mine", ("link",),
                                                               "https://m.example/")  # fmt: skip
    flag = resolve_profile("hugo", "https://f.example", (str(site),))
    assert (flag.name, flag.base_url) == ("hugo", "https://f.example/")
    assert resolve_profile("default", None, (str(tmp_path),)).name == "default"
    other = tmp_path / "other"
    other.mkdir()
    (other / "newsflow.toml").write_text('profile = "jekyll"\n')
    with pytest.raises(ProfileError, match="set different profiles: run the sources separately"):
        resolve_profile("default", None, (str(site), str(other)))
    (other / "newsflow.toml").write_text('colour = "red"\n')
    with pytest.raises(ProfileError, match="unknown setting"):
        source_config((str(other),))


@pytest.mark.parametrize(
    ("style", "data", "url"),
    [
        (None, {"permalink": "/ja/:year/:month/:title/"}, "https://j.example/ja/2024/03/hello/"),
        (None, {"permalink": "/:categories/:slug", "categories": ["A B"], "slug": "Hi There"},
         "https://j.example/a%20b/hi-there"),
        (None, {"date": dt.datetime(2023, 12, 31, 23, 0, tzinfo=_tz(9))},
         "https://j.example/2023/12/31/hello.html"),
        ("pretty", {}, "https://j.example/2024/03/05/hello/"),
        ("none", {"category": "News"}, "https://j.example/news/hello.html"),
        ("ordinal", {}, "https://j.example/2024/065/hello.html"),
        ("/blog/:short_year/:i_month/:i_day/:title.html", {}, "https://j.example/blog/24/3/5/hello.html"),
    ],
)  # fmt: skip
def test_jekyll_permalink_styles_and_placeholders(style: str | None, data: dict, url: str) -> None:
    profile = load_profile("jekyll")
    if style is not None:
        from dataclasses import replace

        profile = replace(profile, permalink=style)
    doc = FrontMatter("/r/_posts/2024-03-05-hello.md", "0" * 64, data, None)
    mapped = profile.for_run("https://j.example", ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter), mapped
    assert mapped.data["webUrl"] == url


def test_hugo_reads_keys_in_any_case_and_falls_back_to_lastmod() -> None:
    data = {"Title": "Caps", "LastMod": "2024-01-02", "Tags": ["a"], "Draft": True, "Other": 1}
    doc = FrontMatter("/r/content/posts/caps.md", "0" * 64, data, None)
    mapped = load_profile("hugo").for_run(HUGO, ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter)
    rows = normalize_document(mapped)
    assert isinstance(rows, DocumentRows)
    assert _summary(rows) == (
        f"{HUGO}/posts/caps/", "Caps", dt.datetime(2024, 1, 2, tzinfo=UTC), False, None, ["a"], [],
        PROVIDER_H, '{"Other": 1}',
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15 10:00:00 +0900", dt.datetime(2024, 1, 15, 10, tzinfo=_tz(9))),
        ("2024-01-15 7:05:00 -0400", dt.datetime(2024, 1, 15, 7, 5, tzinfo=_tz(-4))),
        ("2024-01-15 10:00", dt.datetime(2024, 1, 15, 10)),
        ("2024-01-15 10:00:00 UTC", dt.datetime(2024, 1, 15, 10, tzinfo=_tz(0))),
        ("2024-01-15T10:00:00.5Z", dt.datetime(2024, 1, 15, 10, 0, 0, 500000, tzinfo=_tz(0))),
        ("Jan 2, 2006", dt.date(2006, 1, 2)),
        ("2 January 2006", dt.date(2006, 1, 2)),
        ("Thu, 21 Mar 2024 10:00:00 +0000", dt.datetime(2024, 3, 21, 10, tzinfo=_tz(0))),
        ("2014-07-31T18:11:40.000Z", dt.datetime(2014, 7, 31, 18, 11, 40, tzinfo=_tz(0))),
        ("2024/03/21", dt.date(2024, 3, 21)),
        ("2024-3-5", dt.date(2024, 3, 5)),
        ("2024-03-21T10:00:00+05", dt.datetime(2024, 3, 21, 10, tzinfo=_tz(5))),
        ("2024-09-18T20:53:37-6:00", dt.datetime(2024, 9, 18, 20, 53, 37, tzinfo=_tz(-6))),
        ("2024-09-18 20:53 +0530", dt.datetime(2024, 9, 18, 20, 53, tzinfo=_tz(5.5))),
        ("2014-07-31 18:11:40 PST", dt.datetime(2014, 7, 31, 18, 11, 40, tzinfo=_tz(-8))),
        ("2017-03-08 13:56:47 +0000 UTC", dt.datetime(2017, 3, 8, 13, 56, 47, tzinfo=_tz(0))),
        ("2017-03-08 13:56:47 XYZ", "2017-03-08 13:56:47 XYZ"),
        ("2024-02-30 10:00", "2024-02-30 10:00"),
        ("2024-02-30", "2024-02-30"),
        ("soon", "soon"),
        ("next Friday", "next Friday"),
    ],
)
def test_dates_in_the_forms_hugo_and_jekyll_write(text: str, expected: object) -> None:
    from flows.normalize.profile import _date

    assert _date(text) == expected


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/r/blog/2024-05-01-notes.md", "https://j.example/blog/2024-05-01-notes.html"),
        ("/r/_docs/Guide/index.md", "https://j.example/docs/guide/"),
        ("/r/news.markdown", "https://j.example/news.html"),
    ],
)
def test_a_dated_jekyll_page_outside_posts_gets_the_page_url(path: str, url: str) -> None:
    doc = FrontMatter(path, "0" * 64, {"date": dt.date(2024, 5, 1)}, None)
    mapped = load_profile("jekyll").for_run("https://j.example", ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter), mapped
    assert mapped.data["webUrl"] == url


def test_a_jekyll_post_with_an_empty_block_loads_from_its_file_name(tmp_path: Path) -> None:
    post = tmp_path / "_posts" / "2024-06-07-empty-block.md"
    post.parent.mkdir()
    post.write_text("---\n---\nJust a body.\n")
    assert read_document(post, 1 << 20).kind == "empty_front_matter"  # type: ignore[union-attr]
    doc = read_document(post, 1 << 20, allow_empty=True)
    assert isinstance(doc, FrontMatter) and (doc.data, doc.body) == ({}, "Just a body.\n")
    mapped = load_profile("jekyll").for_run(JEKYLL, (str(tmp_path),)).apply(doc)
    rows = normalize_document(mapped)  # type: ignore[arg-type]
    assert isinstance(rows, DocumentRows)
    assert _summary(rows)[:3] == (
        f"{JEKYLL}/2024/06/07/empty-block.html", "empty-block", dt.datetime(2024, 6, 7, tzinfo=UTC)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "url"),
    [
        ({"lang": "ja"}, "https://j.example/ja/2024/03/05/hello.html"),
        ({"lang": "ja", "permalink": "/news/hello/"}, "https://j.example/ja/news/hello/"),
        ({"lang": "en", "permalink": "/news/hello/"}, "https://j.example/news/hello/"),
        ({"lang": "ja", "permalink": "/ja/news/hello/"}, "https://j.example/ja/news/hello/"),
        ({"lang": "not a language", "permalink": "/n/"}, "https://j.example/n/"),
    ],
)  # fmt: skip
def test_jekyll_translations_sharing_a_permalink_stay_apart(data: dict, url: str) -> None:
    doc = FrontMatter("/r/_posts/2024-03-05-hello.md", "0" * 64, data, None)
    mapped = load_profile("jekyll").for_run("https://j.example", ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter), mapped
    assert mapped.data["webUrl"] == url


def load_discovered(site: str, profile: str, base_url: str) -> tuple[dict[str, Any], int]:
    """What a run sees of a fixture site: the files discovery lists under the profile (its
    ``also_read`` included), each as its row summary or (kind, reason); and how many files
    discovery ignored. Every file of the site is one of the two."""
    root = SITES / site
    chosen = load_profile(profile).for_run(base_url, (str(root),))
    found = discover([root], chosen.reads_also if chosen.also_read else None)
    out: dict[str, Any] = {}
    for path in found.paths:
        doc: FrontMatter | Rejection = read_document(path, 1 << 20, True)
        if isinstance(doc, FrontMatter):
            doc = chosen.apply(doc)
        result = doc if isinstance(doc, Rejection) else normalize_document(doc)
        out[Path(path).relative_to(root.resolve()).as_posix()] = _summary(result)
    files = sum(1 for p in root.rglob("*") if p.is_file())
    assert len(out) + found.ignored == files  # every file is listed or ignored
    return out, found.ignored


NODE = "https://node.example.org"


def test_a_release_notes_blog_in_pages_en_blog_loads_with_the_blog_profile() -> None:
    site, ignored = load_discovered("releasenotes", "blog", NODE)
    assert ignored == 0
    assert site == {
        "pages/en/about/index.md": (
            "not_an_article",
            "page has no date (date | pubDate | publishDate | published | published_at | publishedAt | created | created_at | lastmod | updated | modified, file name, URL): not a post (profile blog)",
        ),
        "pages/en/blog/announcements/new-website.md": (
            f"{NODE}/en/blog/announcements/new-website/",
            "Our new website: faster, and in twelve languages",
            dt.datetime(2023, 11, 30, 12, tzinfo=UTC),
            None,
            None,
            ["announcements"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "The Website Team"}',
        ),
        "pages/en/blog/index.md": (
            "not_an_article",
            "page has no date (date | pubDate | publishDate | published | published_at | publishedAt | created | created_at | lastmod | updated | modified, file name, URL): not a post (profile blog)",
        ),
        "pages/en/blog/migrations/v2-to-v3.mdx": (
            f"{NODE}/en/blog/migrations/v2-to-v3/",
            "Moving from v2 to v3",
            dt.datetime(2024, 1, 20, 12, tzinfo=UTC),
            None,
            None,
            ["migrations"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "The Migrations Team"}',
        ),
        "pages/en/blog/release/v0.4.1.md": (
            f"{NODE}/en/blog/release/v0.4.1/",
            "Runtime 0.4.1",
            dt.datetime(2011, 8, 1, 21, 4, 30, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "ada"}',
        ),
        "pages/en/blog/release/v3.0.2.md": (
            f"{NODE}/en/blog/release/v3.0.2/",
            "Runtime 3.0.2 (LTS)",
            dt.datetime(2024, 1, 9, 9, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "The Release Team"}',
        ),
        "pages/en/blog/release/v3.1.0.md": (
            f"{NODE}/en/blog/release/v3.1.0/",
            "Runtime 3.1.0 (Current)",
            dt.datetime(2024, 2, 14, 16, 20, 5, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "The Release Team"}',
        ),
        "pages/en/blog/vulnerability/march-2024-security-releases.md": (
            f"{NODE}/en/blog/vulnerability/march-2024-security-releases/",
            "Tuesday, March 21, 2024 Security Releases",
            dt.datetime(2024, 3, 21, tzinfo=UTC),
            None,
            None,
            ["vulnerability"],
            [],
            [("node.example.org", "node.example.org")],
            '{"author": "The Security Team", "slug": "march-2024-security-releases"}',
        ),
    }


LANG = "https://blog.lang.example"


def test_a_toml_language_blog_with_path_keys_loads_with_the_hugo_profile() -> None:
    site, ignored = load_discovered("tomlblog", "hugo", LANG)
    assert ignored == 1
    assert site == {
        "content/1.80.0-release.md": (
            f"{LANG}/2024/03/21/Example-1.80.0",
            "Announcing Example 1.80.0",
            dt.datetime(2024, 3, 21, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"aliases": ["releases/1.80.0"], "author": ["The Release Team"], "extra": {"release": true}, "taxonomies": {"tags": ["release"]}}',
        ),
        "content/2023-11-05-dated-by-name.md": (
            f"{LANG}/dated-by-name/",
            "A post dated by its file name",
            dt.datetime(2023, 11, 5, tzinfo=UTC),
            None,
            None,
            ["meta"],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"taxonomies": {"tags": ["meta"]}}',
        ),
        "content/4-Years-Of-Example.md": (
            f"{LANG}/2019/05/15/4-Years-Of-Example.html",
            "4 years of Example",
            dt.datetime(2019, 5, 15, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"author": ["The Core Team"], "weight": 1}',
        ),
        "content/_index.md": (
            "not_an_article",
            "_index.md is a list page, not an article (profile hugo)",
        ),
        "content/inside/_index.md": (
            "not_an_article",
            "_index.md is a list page, not an article (profile hugo)",
        ),
        "content/inside/all-hands-retrospective/index.md": (
            f"{LANG}/inside/9999/12/31/all-hands-retrospective",
            "All Hands retrospective",
            dt.datetime(9999, 12, 31, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"author": ["Ola"]}',
        ),
        "content/inside/compiler-update.md": (
            f"{LANG}/inside/2024/04/02/compiler-update",
            "Compiler team update",
            dt.datetime(2024, 4, 2, tzinfo=UTC),
            None,
            "What the compiler team did in March.",
            [],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"author": ["Mia"], "extra": {"team": "the compiler team", "team_url": "https://lang.example.org/teams/compiler"}}',
        ),
        "content/survey-results/index.md": (
            f"{LANG}/2024/02/19/survey-results",
            "Survey results",
            dt.datetime(2024, 2, 19, tzinfo=UTC),
            None,
            None,
            ["survey", "community"],
            [],
            [("blog.lang.example", "blog.lang.example")],
            '{"author": ["The Survey Team"], "taxonomies": {"tags": ["survey", "community"]}}',
        ),
    }


BREW = "https://tapster.example"


def test_a_homebrew_style_jekyll_news_site_loads_posts_dated_by_their_names() -> None:
    site, ignored = load_discovered("brewnews", "jekyll", BREW)
    assert ignored == 3
    assert site == {
        "README.md": (
            "no_front_matter",
            "no front matter: the first line must be '---' (YAML), '+++' (TOML) or start with '{' (JSON)",
        ),
        "_posts/ 2018-08-05-security-incident-disclosure.md": (
            f"{BREW}/2018/08/05/security-incident-disclosure.html",
            "Security Incident Disclosure",
            dt.datetime(2018, 8, 5, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("tapster.example", "tapster.example")],
            '{"author": "MikaelM"}',
        ),
        "_posts/2015-06-01-tapster-0.9.html": (
            f"{BREW}/2015/06/01/tapster-0.9.html",
            "Tapster 0.9",
            dt.datetime(2015, 6, 1, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("tapster.example", "tapster.example")],
            None,
        ),
        "_posts/2016-9-2-tapster-1.0.0.md": (
            f"{BREW}/2016/09/02/tapster-1.0.0.html",
            "1.0.0",
            dt.datetime(2016, 9, 2, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("tapster.example", "tapster.example")],
            '{"author": "MikaelM"}',
        ),
        "_posts/2019-02-02-tapster-2.0.md": (
            f"{BREW}/2019/02/02/tapster-2.0.html",
            "2.0",
            dt.datetime(2019, 2, 2, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("tapster.example", "tapster.example")],
            '{"author": "MikaelM"}',
        ),
        "_posts/2020-11-31-tapster-2.6.0.md": (
            "not_an_article",
            "2020-11-31-tapster-2.6.0.md: 2020-11-31 is not a date and no date key is set (profile jekyll)",
        ),
        "_posts/2024-05-14-tapster-4.3.0.md": (
            f"{BREW}/2024/05/14/tapster-4.3.0.html",
            "4.3.0",
            dt.datetime(2024, 5, 14, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("tapster.example", "tapster.example")],
            '{"author": "MikaelM", "redirect_from": "/blog/4.3.0/"}',
        ),
    }


MULTI = "https://lang.example"


def test_a_multilingual_jekyll_news_site_keeps_each_language_apart() -> None:
    site, ignored = load_discovered("multilang", "jekyll", MULTI)
    assert ignored == 1
    assert site == {
        "en/about/index.md": (
            "not_an_article",
            "page has no date (date, file name, URL): not a post (profile jekyll)",
        ),
        "en/news/_posts/2024-03-21-example-3-3-0-released.md": (
            f"{MULTI}/en/news/2024/03/21/example-3-3-0-released.html",
            "Example 3.3.0 Released",
            dt.datetime(2024, 3, 21, 10, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("lang.example", "lang.example")],
            '{"author": "naruse", "lang": "en", "translator": null}',
        ),
        "ja/news/_posts/2002-10-17-20021017.md": (
            f"{MULTI}/ja/news/2002/10/17/20021017.html",
            "古いお知らせ",
            dt.datetime(2002, 10, 17, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("lang.example", "lang.example")],
            '{"lang": "ja"}',
        ),
        "ja/news/_posts/2024-03-21-example-3-3-0-released.md": (
            f"{MULTI}/ja/news/2024/03/21/example-3-3-0-released.html",
            "Example 3.3.0 リリース",
            dt.datetime(2024, 3, 21, 10, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("lang.example", "lang.example")],
            '{"author": "naruse", "lang": "ja", "translator": "mame"}',
        ),
        "ko/news/_posts/2024-03-21-example-3-3-0-released.md": (
            f"{MULTI}/ko/news/2024/03/21/example-3-3-0-released.html",
            "Example 3.3.0 릴리스",
            dt.datetime(2024, 3, 21, 10, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("lang.example", "lang.example")],
            '{"author": "naruse", "lang": "ko", "translator": "shia"}',
        ),
        "zh_tw/news/_posts/2024-03-21-example-3-3-0-released.md": (
            f"{MULTI}/zh_tw/news/2024/03/21/example-3-3-0-released.html",
            "Example 3.3.0 發布",
            dt.datetime(2024, 3, 21, 10, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("lang.example", "lang.example")],
            '{"author": "naruse", "lang": "zh_tw", "translator": "Juanito"}',
        ),
    }


TOOL = "https://tool.example"


def test_a_jekyll_documentation_tree_loads_its_markdown_posts() -> None:
    site, ignored = load_discovered("jekylldocs/docs", "jekyll", TOOL)
    assert ignored == 2
    assert site == {
        "_docs/installation.md": (
            "not_an_article",
            "page has no date (date, file name, URL): not a post (profile jekyll)",
        ),
        "_posts/2013-05-06-tool-1-0-0-released.markdown": (
            f"{TOOL}/release/2013/05/06/tool-1-0-0-released.html",
            "Tool 1.0.0 Released",
            dt.datetime(2013, 5, 6, 0, 12, 52, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("tool.example", "tool.example")],
            '{"author": "parkr", "version": "1.0.0"}',
        ),
        "_posts/2016-03-10-making-it-easier-to-contribute.md": (
            f"{TOOL}/community/2016/03/10/making-it-easier-to-contribute.html",
            "Making it easier to contribute",
            dt.datetime(2016, 3, 10, 23, 30, tzinfo=UTC),
            None,
            None,
            ["community"],
            [],
            [("tool.example", "tool.example")],
            '{"author": "jekyll"}',
        ),
        "_posts/2017/2017-03-09-tool-3-4-2-released.markdown": (
            f"{TOOL}/release/2017/03/09/tool-3-4-2-released.html",
            "Tool 3.4.2 Released",
            dt.datetime(2017, 3, 9, 18, 20, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("tool.example", "tool.example")],
            '{"author": "pathawks"}',
        ),
        "_posts/2018-09-19-security-fixes-for-3-6-3-7-3-8.markdown": (
            f"{TOOL}/release/2018/09/19/security-fixes-for-3-6-3-7-3-8.html",
            "Security Fixes for series 3.6, 3.7 and 3.8",
            dt.datetime(2018, 9, 19, 12, 30, tzinfo=UTC),
            None,
            None,
            ["release"],
            [],
            [("tool.example", "tool.example")],
            '{"author": "ashmaroli", "version": "3.8.4"}',
        ),
    }


DOCS = "https://docs.example"


def test_a_hugo_documentation_site_loads_its_news_and_not_its_docs() -> None:
    site, ignored = load_discovered("hugodocs", "hugo", DOCS)
    assert ignored == 0
    assert site == {
        "content/en/_index.md": (
            "not_an_article",
            "_index.md is a list page, not an article (profile hugo)",
        ),
        "content/en/getting-started/quick-start.md": (
            "not_an_article",
            "page has no date (date | publishDate | pubdate | published | lastmod | modified, file name, URL): not a post (profile hugo)",
        ),
        "content/en/news/0.81.0-relnotes/index.md": (
            f"{DOCS}/en/news/0.81.0-relnotes/",
            "Hugo-like 0.81.0: The Smorgasbord Edition",
            dt.datetime(2021, 2, 19, tzinfo=UTC),
            None,
            "Attribute lists for Markdown blocks, and it's faster",
            ["Releases"],
            [],
            [("docs.example", "docs.example")],
            None,
        ),
        "content/en/news/_index.md": (
            "not_an_article",
            "_index.md is a list page, not an article (profile hugo)",
        ),
        "content/en/news/http2-server-push.md": (
            f"{DOCS}/en/news/http2-server-push/",
            "HTTP/2 Server Push",
            dt.datetime(2017, 7, 24, 16, 36, tzinfo=UTC),
            None,
            "Every page can be output to several formats, so redirect and header files are easy to make.\n",
            ["blog"],
            [f"{DOCS}/en/news/http2-server-push/images/card.png"],
            [("docs.example", "docs.example")],
            '{"aliases": [], "author": "bep", "slug": "http2-server-push"}',
        ),
    }


ANA = "https://ana.example"


def test_a_personal_blog_in_many_shapes_loads_with_the_blog_profile() -> None:
    site, ignored = load_discovered("personal", "blog", ANA)
    assert ignored == 0
    assert site == {
        "posts/2020-10-03-switching/index.md": (
            f"{ANA}/posts/switching-generators/",
            "Switching generators",
            dt.datetime(2020, 10, 3, tzinfo=UTC),
            None,
            None,
            ["meta"],
            [],
            [("ana.example", "ana.example")],
            '{"slug": "switching-generators"}',
        ),
        "posts/2023-12-31-year-end.md": (
            f"{ANA}/posts/year-end/",
            "year-end",
            dt.datetime(2023, 12, 31, tzinfo=UTC),
            None,
            None,
            [],
            [],
            [("ana.example", "ana.example")],
            None,
        ),
        "posts/2024-03-21-spring.md": (
            f"{ANA}/posts/spring/",
            "Spring notes",
            dt.datetime(2024, 3, 21, tzinfo=UTC),
            None,
            None,
            ["gardening", "slow living"],
            [f"{ANA}/img/spring.jpg"],
            [("ana.example", "ana.example")],
            '{"author": {"name": "Ana", "url": "https://ana.example"}, "cover": {"alt": "tulips", "image": "/img/spring.jpg"}}',
        ),
        "posts/draft-idea.md": (
            f"{ANA}/posts/draft-idea/",
            "An idea",
            dt.datetime(2024, 4, 2, 8, tzinfo=UTC),
            False,
            None,
            [],
            [],
            [("ana.example", "ana.example")],
            None,
        ),
        "posts/imported-from-wordpress.md": (
            f"{ANA}/posts/imported-from-wordpress/",
            "An imported post",
            dt.datetime(2017, 10, 5, 14, 48, tzinfo=UTC),
            None,
            None,
            ["travel", "photos"],
            [],
            [("ana.example", "ana.example")],
            None,
        ),
        "posts/no-date-page.md": (
            "not_an_article",
            "page has no date (date | pubDate | publishDate | published | published_at | publishedAt | created | created_at | lastmod | updated | modified, file name, URL): not a post (profile blog)",
        ),
        "posts/spring.ja.md": (
            f"{ANA}/ja/posts/spring/",
            "春のノート",
            dt.datetime(2024, 3, 21, tzinfo=UTC),
            None,
            None,
            ["庭"],
            [],
            [("ana.example", "ana.example")],
            None,
        ),
        "posts/unpublished.md": (
            f"{ANA}/posts/unpublished/",
            "Not ready",
            dt.datetime(2024, 4, 1, tzinfo=UTC),
            False,
            None,
            [],
            [],
            [("ana.example", "ana.example")],
            None,
        ),
    }


def test_also_read_lists_other_suffixes_only_where_the_profile_says() -> None:
    jekyll, blog, hugo = (load_profile(name) for name in ("jekyll", "blog", "hugo"))
    assert jekyll.reads_also("/s/_posts/2015-06-01-old.html")
    assert jekyll.reads_also("/s/_posts/2013/2013-01-02-old.HTML")
    assert not jekyll.reads_also("/s/_layouts/post.html")
    assert not jekyll.reads_also("/s/index.html")
    assert blog.reads_also("/s/pages/en/blog/a.mdx")
    assert not blog.reads_also("/s/pages/en/blog/a.html")
    assert blog.reads_also("/s/_posts/2015-06-01-old.html")
    assert not hugo.also_read and not load_profile("default").also_read


def test_a_published_flag_is_not_taken_for_a_date() -> None:
    data = {"title": "Flagged", "published": False, "created": "2024-01-02 08:00 +0100"}
    doc = FrontMatter("/r/posts/flagged.md", "0" * 64, data, None)
    mapped = load_profile("blog").for_run("https://b.example", ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter)
    rows = normalize_document(mapped)
    assert isinstance(rows, DocumentRows)
    assert (rows.article["published_at"], rows.article["is_published"]) == (
        dt.datetime(2024, 1, 2, 7, tzinfo=UTC),
        False,
    )


@pytest.mark.parametrize(
    ("name", "url", "date"),
    [
        ("2024-1-5-short.md", "https://j.example/2024/01/05/short.html", dt.date(2024, 1, 5)),
        (" 2024-01-05-blank.md", "https://j.example/2024/01/05/blank.html", dt.date(2024, 1, 5)),
    ],
)
def test_jekyll_post_names_with_one_digit_or_a_stray_blank(
    name: str, url: str, date: dt.date
) -> None:
    doc = FrontMatter(f"/r/_posts/{name}", "0" * 64, {"title": "t"}, None)
    mapped = load_profile("jekyll").for_run("https://j.example", ("/r",)).apply(doc)
    assert isinstance(mapped, FrontMatter)
    assert (mapped.data["webUrl"], mapped.data["publishedDateTime"]) == (url, date)


def test_a_date_spelled_by_the_path_key_or_the_folders() -> None:
    chosen = load_profile("hugo").for_run("https://z.example", ("/r",))
    cases = {
        ("/r/content/a.md", "2019/05/15/a.html"): dt.date(2019, 5, 15),
        ("/r/content/posts/2024/03/21/b.md", None): dt.date(2024, 3, 21),
        ("/r/content/c.md", "inside/2024/02/30/c"): None,  # no such day: no date
    }
    for (path, key), date in cases.items():
        data = {"title": "t"} if key is None else {"title": "t", "path": key}
        mapped = chosen.apply(FrontMatter(path, "0" * 64, data, None))
        if date is None:
            assert isinstance(mapped, Rejection) and mapped.kind == "not_an_article"
        else:
            assert isinstance(mapped, FrontMatter)
            assert mapped.data["publishedDateTime"] == date


def test_an_empty_date_falls_through_and_a_dated_permalink_dates_a_page() -> None:
    hugo = load_profile("hugo").for_run(HUGO, ("/r",))
    doc = FrontMatter(
        "/r/content/posts/e.md", "0" * 64, {"date": "", "lastmod": "2024-05-06"}, None
    )
    mapped = hugo.apply(doc)
    assert isinstance(mapped, FrontMatter)
    assert mapped.data["publishedDateTime"] == dt.date(2024, 5, 6)
    jekyll = load_profile("jekyll").for_run(JEKYLL, ("/r",))
    page = FrontMatter("/r/notes.md", "0" * 64, {"permalink": "/2024/03/21/notes/"}, None)
    mapped = jekyll.apply(page)
    assert isinstance(mapped, FrontMatter)
    assert (mapped.data["webUrl"], mapped.data["publishedDateTime"]) == (
        f"{JEKYLL}/2024/03/21/notes/",
        dt.date(2024, 3, 21),
    )


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True)
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(UTC))
    | st.text(max_size=30)
    | st.sampled_from(["2024-02-30", "2024/1/2 3:04 +0530", ":year/:title", "/a b/", "ja", "../x"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = ["date", "pubDate", "published", "lastmod", "title", "tags", "categories", "category",
         "permalink", "url", "path", "slug", "lang", "images", "image", "cover", "draft",
         "author", "taxonomies", "Title", "Date"]  # fmt: skip
_NAMES = ["2024-01-02-a.md", "2020-11-31-b.md", " 2024-1-2-c.md", "index.md", "_index.md",
          "post.ja.md", "x.mdx", "2024-13-45-d.html"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6),
    folder=st.sampled_from(["", "_posts/", "content/posts/", "en/news/_posts/", "pages/blog/"]),
    name=st.sampled_from(_NAMES),
    profile=st.sampled_from(["hugo", "jekyll", "blog"]),
)
def test_any_front_matter_maps_or_is_rejected_never_raises(
    data: dict[str, Any], folder: str, name: str, profile: str
) -> None:
    chosen = load_profile(profile).for_run("https://p.example/", ("/r",))
    result = chosen.apply(FrontMatter(f"/r/{folder}{name}", "0" * 64, data, None))
    if isinstance(result, Rejection):
        assert result.kind in ("not_an_article", "no_url")
    else:
        assert isinstance(result, FrontMatter)
        rows = normalize_document(result)
        assert isinstance(rows, DocumentRows | Rejection)
