"""Analysis: explain one file as a run with a source profile would load it."""

from __future__ import annotations

from pathlib import Path

from flows.analysis.explain import explain_file
from flows.normalize.profile import load_profile

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "sites" / "hugo"


def test_explain_applies_the_profile_or_names_the_keys_it_found() -> None:
    post = SITE / "content" / "posts" / "toml-post.md"
    hugo = load_profile("hugo").for_run("https://h.example/", (str(SITE),))
    found = explain_file(post, 1 << 20, None, hugo)
    assert found.rejection is None
    [article] = found.rows["article"]
    assert (article["canonical_url"], article["title"]) == (
        "https://h.example/posts/custom-slug/", "A post in TOML",
    )  # fmt: skip
    plain = explain_file(post, 1 << 20, None)
    assert plain.rejection is not None
    assert (plain.rejection.kind, plain.rejection.reason) == (
        "no_url", "no webUrl or originalUrl: an article needs a URL to be identified (found "
        "slug: Custom Slug — pass --profile hugo|jekyll and --base-url, or map it)",
    )  # fmt: skip
    listing = explain_file(SITE / "content" / "_index.md", 1 << 20, None, hugo)
    assert listing.rejection is not None
    assert (listing.rejection.kind, listing.rejection.stage) == ("not_an_article", "normalize")
