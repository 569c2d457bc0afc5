"""Whole runs over a Hugo site with a profile: every file accounted for, the ledger records the
profile, and a changed profile reprocesses the files (real DuckDB, no Prefect)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from flows.normalize.contract import CONTRACT_VERSION
from flows.normalize.profile import PROFILES_DIR, load_profile
from flows.settings import Settings
from tests.conftest import query

SITES = Path(__file__).resolve().parents[1] / "fixtures" / "sites"
BASE = "https://hugo.example.org/"
POSTS = [
    f"{BASE}ja/posts/post/", f"{BASE}posts/custom-slug/", f"{BASE}posts/draft/",
    f"{BASE}posts/first-post/", f"{BASE}posts/no-title/", f"{BASE}posts/trip/",
    f"{BASE}special/json/",
]  # fmt: skip


def _site(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SITES / "hugo", tmp_path / "site"))


def test_a_hugo_site_loads_with_its_profile_and_reloads_when_the_profile_changes(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    site = _site(tmp_path)
    settings = make_settings(site, profile="hugo", base_url="https://hugo.example.org")
    first = run_ingest(settings)
    assert first.status == "success"
    assert (first.files_seen, first.files_loaded, first.files_rejected) == (10, 7, 3)
    wh = settings.warehouse
    urls = query(wh, "select canonical_url from article order by 1")
    assert [r["canonical_url"] for r in urls] == POSTS
    providers = query(wh, "select name, domain from provider")
    assert providers == [{"name": "hugo.example.org", "domain": "hugo.example.org"}]
    version = load_profile("hugo").ledger_version()
    ledger = query(wh, "select contract_version, count(*) as n from etl.file group by 1")
    assert ledger == [{"contract_version": version, "n": 10}]
    kinds = query(wh, "select kind, count(*) as n from etl.rejection group by 1")
    assert kinds == [{"kind": "not_an_article", "n": 3}]

    again = run_ingest(settings)
    assert (again.files_seen, again.files_loaded) == (10, 0)

    # The same profile with one more key: another version, so every file is read again.
    changed = tmp_path / "hugo-changed.toml"
    changed.write_text('site_name = "Hugo Example"\n' + (PROFILES_DIR / "hugo.toml").read_text())
    third = run_ingest(make_settings(site, profile=str(changed), base_url=BASE))
    assert (third.files_seen, third.files_loaded, third.files_rejected) == (10, 7, 3)
    reread = query(wh, "select count(*) as n from etl.file where last_run_id = ?", [third.run_id])
    assert reread == [{"n": 10}]
    ledger = query(wh, "select distinct contract_version from etl.file")
    assert ledger == [{"contract_version": load_profile(str(changed)).ledger_version()}]


def test_the_same_site_under_the_default_profile_is_rejected_as_today(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(_site(tmp_path))
    summary = run_ingest(settings)
    assert (summary.files_seen, summary.files_loaded, summary.files_rejected) == (10, 0, 10)
    kinds = query(settings.warehouse, "select kind, count(*) as n from etl.rejection group by 1")
    assert kinds == [{"kind": "no_url", "n": 10}]
    ledger = query(settings.warehouse, "select distinct contract_version from etl.file")
    assert ledger == [{"contract_version": CONTRACT_VERSION}]


# Real-world shapes (docs/profiles.md#real-sites): each site with its matching profile loads
# every post, rejects what is not one with a reason, and accounts for every file.
# (site, profile, files seen, loaded, rejected, ignored, rejected by kind)
REAL_SITES = [
    ("releasenotes", "blog", 8, 6, 2, 0, {"not_an_article": 2}),
    ("tomlblog", "hugo", 9, 6, 2, 1, {"not_an_article": 2}),
    ("tomlblog", "blog", 9, 6, 2, 1, {"not_an_article": 2}),
    ("tomlblog", "jekyll", 9, 6, 2, 1, {"not_an_article": 2}),  # dated by `path`, too
    ("brewnews", "blog", 10, 5, 2, 3, {"no_front_matter": 1, "not_an_article": 1}),
    ("brewnews", "jekyll", 10, 5, 2, 3, {"no_front_matter": 1, "not_an_article": 1}),
    ("multilang", "jekyll", 7, 5, 1, 1, {"not_an_article": 1}),
    ("jekylldocs/docs", "jekyll", 7, 4, 1, 2, {"not_an_article": 1}),
    ("hugodocs", "hugo", 5, 2, 3, 0, {"not_an_article": 3}),
    ("personal", "blog", 8, 7, 1, 0, {"not_an_article": 1}),
]


@pytest.mark.parametrize(
    ("site", "profile", "seen", "loaded", "rejected", "ignored", "kinds"), REAL_SITES
)
def test_a_real_world_site_loads_with_its_profile_and_accounts_for_every_file(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    site: str,
    profile: str,
    seen: int,
    loaded: int,
    rejected: int,
    ignored: int,
    kinds: dict[str, int],
) -> None:
    root = Path(shutil.copytree(SITES / site, tmp_path / "site"))
    files = sum(1 for p in root.rglob("*") if p.is_file())
    settings = make_settings(root, profile=profile, base_url="https://site.example/")
    first = run_ingest(settings)
    assert first.status == "success"
    counts = (first.files_seen, first.files_loaded, first.files_rejected, first.files_ignored)
    assert counts == (seen, loaded, rejected, ignored)
    assert first.files_skipped == 0
    assert files == seen == loaded + rejected + first.files_skipped + ignored
    wh = settings.warehouse
    found = query(wh, "select kind, count(*) as n from etl.rejection group by 1 order by 1")
    assert {r["kind"]: r["n"] for r in found} == kinds
    articles = query(wh, "select count(*) as n, count(published_at) as dated from article")
    assert articles == [{"n": loaded, "dated": loaded}]  # every post has its date

    again = run_ingest(settings)  # nothing changed: every file skipped unread, none failed
    assert again.status == "success"
    assert (again.files_seen, again.files_loaded, again.files_skipped) == (
        seen,
        0,
        loaded + rejected,
    )


@pytest.mark.parametrize(
    ("site", "seen", "ignored", "kinds"),
    [
        ("hugodocs", 5, 0, {"no_front_matter": 1, "no_url": 4}),  # the blank first line
        ("brewnews", 10, 4, {"no_front_matter": 1, "no_url": 5}),  # _posts/*.html not read
    ],
)
def test_real_world_sites_under_the_default_profile_behave_as_before(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    site: str,
    seen: int,
    ignored: int,
    kinds: dict[str, int],
) -> None:
    settings = make_settings(Path(shutil.copytree(SITES / site, tmp_path / "site")))
    summary = run_ingest(settings)
    assert (summary.files_seen, summary.files_loaded, summary.files_ignored) == (seen, 0, ignored)
    found = query(settings.warehouse, "select kind, count(*) as n from etl.rejection group by 1")
    assert {r["kind"]: r["n"] for r in found} == kinds


def test_a_jekyll_post_with_a_repeated_key_loads_its_last_value_with_a_warning(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Jekyll's YAML reader keeps the last of two equal keys, so the jekyll profile does too
    (duplicate_keys = "last"), warning with the key and its line; the default rejects."""
    posts = tmp_path / "blog" / "_posts"
    posts.mkdir(parents=True)
    (posts / "2024-03-21-twice.md").write_text(
        "---\nlayout: post\ntitle: First title\ntags: alpha beta\ntitle: Last title\n"
        "tags: gamma\n---\nText.\n"
    )
    settings = make_settings(tmp_path / "blog", profile="jekyll", base_url="https://j.example.org")
    summary = run_ingest(settings)
    assert (summary.files_loaded, summary.files_rejected) == (1, 0)
    wh = settings.warehouse
    assert query(wh, "select title, canonical_url from article") == [
        {"title": "Last title", "canonical_url": "https://j.example.org/2024/03/21/twice.html"}
    ]
    topics = query(wh, "select t.name from article_topic a join topic t using (topic_id)")
    assert topics == [{"name": "gamma"}]
    warnings = query(wh, "select field, message from etl.warning order by field")
    assert warnings == [
        {"field": "publishedDateTime", "message": "date without a time; midnight UTC assumed"},
        {"field": "tags", "message": "duplicate key 'tags' at line 6: its last value is kept "
                                     "(profile: duplicate_keys = 'last')"},
        {"field": "title", "message": "duplicate key 'title' at line 5: its last value is kept "
                                      "(profile: duplicate_keys = 'last')"},
    ]  # fmt: skip

    plain = make_settings(tmp_path / "blog", warehouse=tmp_path / "default.duckdb")
    rejected = run_ingest(plain)
    assert rejected.files_rejected == 1
    reasons = query(plain.warehouse, "select kind, line, col from etl.rejection")
    assert reasons == [{"kind": "duplicate_key", "line": 5, "col": 1}]
