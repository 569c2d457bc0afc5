"""The quarantine read side: rejections by kind, a rejection shown in its file's lines, and one
file explained as a run with a source profile would load it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.analysis.explain import UnknownKind, explain_file, list_rejections, source_context
from flows.ingest import RunSummary
from flows.normalize.profile import load_profile
from flows.records import REJECTION_KINDS, Rejection
from flows.settings import Settings


def _files(rows: list[dict]) -> list[tuple[str, str]]:
    return [(Path(r["path"]).name, r["kind"]) for r in rows]


def test_rejections_filter_by_kind(fixture_run: tuple[Settings, RunSummary]) -> None:
    settings, _ = fixture_run
    assert _files(list_rejections(settings.warehouse)) == [
        ("missing_close.txt", "unclosed_front_matter"), ("no_url.md", "no_url"),
        ("notes.txt", "no_front_matter"), ("tab_indent.txt", "yaml_syntax"),
    ]  # fmt: skip
    assert _files(list_rejections(settings.warehouse, ["yaml_syntax", "no_url"])) == [
        ("no_url.md", "no_url"), ("tab_indent.txt", "yaml_syntax"),
    ]  # fmt: skip
    assert list_rejections(settings.warehouse, ["binary"]) == []  # known, none quarantined
    with pytest.raises(UnknownKind) as raised:
        list_rejections(settings.warehouse, ["yaml", "no_url"])
    assert raised.value.unknown == ["yaml"]
    assert raised.value.known == sorted(REJECTION_KINDS)
    assert str(raised.value).startswith(
        "unknown rejection kind yaml (known: bad_file_name, binary, duplicate_key"
    )


def test_every_kind_newsflow_gives_is_declared() -> None:
    """A kind given in the code but missing from REJECTION_KINDS would be refused by --kind."""
    import re

    root = Path(__file__).resolve().parents[2] / "flows"
    given: set[str] = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "Rejection" not in text and "reject" not in text:
            continue  # a module that gives no rejection (kind= may mean something else there)
        given |= set(re.findall(r'kind="([a-z_0-9]+)"', text))
        given |= set(re.findall(r'reject\(\s*"([a-z_0-9]+)"', text))
        given |= set(re.findall(r'(?:LimitExceeded|KeyProblem)\(\s*"([a-z_0-9]+)"', text))
        given |= set(re.findall(r'FrontMatterMissing\(\s*"([a-z_0-9]+)"', text))
        given |= set(re.findall(r'FormatError\(\s*"([a-z_0-9]+)"', text))
        given |= set(re.findall(r'_reject\(\s*\w+,\s*"([a-z_0-9]+)"', text))
    assert given and given <= set(REJECTION_KINDS), given - set(REJECTION_KINDS)


def test_explain_shows_the_lines_around_a_yaml_error_and_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text(
        "---\nwebUrl: https://example.com/a\ntitle: A\ntopics: [a, b\nquality: 5\nheat: 1\n"
        "---\nbody\n"
    )
    found = explain_file(path, 1 << 20, None)
    assert found.rejection is not None
    assert (found.rejection.kind, found.rejection.line, found.rejection.col) == (
        "yaml_syntax",
        4,
        9,
    )
    assert found.context == [
        "2 | webUrl: https://example.com/a",
        "3 | title: A",
        "4 | topics: [a, b",
        "  |         ^",
        "5 | quality: 5",
        "6 | heat: 1",
    ]
    assert found.hint is not None and found.hint.startswith("fix the YAML at the caret")


def test_source_context_at_the_edges(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text("---\n\tname: x\n---\n")
    at = Rejection(str(path), "extract", "why", line=2, col=1, kind="yaml_syntax")
    assert source_context(str(path), at) == [
        "1 | ---", "2 | →name: x", "  | ^", "3 | ---",
    ]  # fmt: skip
    assert source_context(str(path), Rejection(str(path), "normalize", "no url")) == []


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
