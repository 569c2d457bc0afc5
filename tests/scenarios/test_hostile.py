"""Hostile and messy input: every bad file is quarantined with an exact reason; nothing crashes,
hangs, runs code or takes the good documents down with it."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.extract.frontmatter import parse_document
from flows.ingest import run_ingest
from flows.normalize.document import DocumentRows, make_id, normalize_document
from flows.records import FrontMatter, Rejection
from flows.settings import load_settings
from flows.tools.synth import write_corpus
from tests.conftest import REPO, query
from tests.hostile import MAX_FILE_BYTES, build_hostile_corpus

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
SEEDS = REPO / "seeds" / "articles"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "pwned"
    expected = build_hostile_corpus(root / "src", marker)
    return root, marker, expected


def test_every_bad_file_is_quarantined_with_its_exact_reason(
    hostile: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    root, marker, expected = hostile
    settings = load_settings(
        env={}, sources=(root / "src",), warehouse=tmp_path / "h.duckdb", workers=1,
        max_file_bytes=MAX_FILE_BYTES,
    )  # fmt: skip
    summary = run_ingest(settings)
    assert summary.status == "success"
    rows = {
        Path(r["path"]).name: r
        for r in query(
            settings.warehouse, "select path, kind, line, col, reason from etl.rejection"
        )
    }
    bad = {name: o for name, o in expected.items() if o.kind}
    assert sorted(rows) == sorted(bad)
    for name, outcome in bad.items():
        row = rows[name]
        assert (row["kind"], row["line"], row["col"]) == (
            outcome.kind,
            outcome.line,
            outcome.col,
        ), name
        if outcome.reason:
            assert row["reason"] == outcome.reason, name
    loaded = query(settings.warehouse, "select canonical_url from article order by 1")
    assert loaded == [
        {"canonical_url": f"https://hostile.example/{n}"} for n in ("bom", "crlf", "ts", "w")
    ]
    assert (summary.files_loaded, summary.files_rejected, summary.files_ignored) == (4, len(bad), 1)
    assert query(
        settings.warehouse,
        "select field, message from etl.warning where path like '%overflow_ts_ok.md' order by 1",
    ) == [
        {"field": "provider", "message": "no provider"},
        {
            "field": "publishedDateTime",
            "message": "timestamp 9999-12-31T23:30:00-05:00 is out of range in UTC; stored as NULL",
        },
    ]
    assert (
        summary.files_seen
        == summary.files_loaded
        + summary.files_rejected
        + summary.files_skipped
        + summary.files_ignored
    )
    assert not marker.exists()


def test_wrong_types_load_as_null_with_warnings(
    hostile: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    root, _, _ = hostile
    settings = load_settings(env={}, sources=(root / "src" / "wrong_types_ok.md",),
                             warehouse=tmp_path / "w.duckdb", workers=1)  # fmt: skip
    run_ingest(settings)
    [article] = query(settings.warehouse, "select title, quality, heat, is_published, published_at, "
                      "provider_id, extra from article")  # fmt: skip
    assert article == {
        "title": "12", "quality": None, "heat": None, "is_published": None, "published_at": None,
        "provider_id": make_id("provider-name", "plain name"),
        "extra": '{"binary": "6869", "extra_nan": "nan"}',
    }  # fmt: skip
    assert query(settings.warehouse, "select domain, name from provider") == [
        {"domain": None, "name": "Plain Name"}
    ]
    assert query(settings.warehouse, "select count(*) as n from topic") == [{"n": 1}]
    assert query(settings.warehouse, "select title, related_article_id from related") == [
        {"title": "no url", "related_article_id": None}
    ]
    fields = [
        r["field"]
        for r in query(settings.warehouse, "select field from etl.warning order by rowid")
    ]
    assert fields == ["title", "publishedDateTime", "quality", "heat", "published",
                      "provider.domain", "images", "related[1]", "related[2]", "related[2].provider",
                      "topics[1]", "topics[3]"]  # fmt: skip
    [heat] = query(settings.warehouse, "select message from etl.warning where field = 'heat'")
    assert heat == {"message": "number given as text '1e400' is not finite; stored as NULL"}


def test_quarantine_survives_until_the_file_is_fixed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bad = src / "a.md"
    bad.write_text("---\ntitle: [unclosed\nwebUrl: https://x.example/a\n---\n")
    settings = load_settings(env={}, sources=(src,), warehouse=tmp_path / "q.duckdb", workers=1)
    first = run_ingest(settings)
    second = run_ingest(settings)  # unchanged: skipped unread, still quarantined
    assert (second.files_rejected, second.files_unchanged, second.files_still_rejected) == (0, 1, 1)
    [row] = query(settings.warehouse, "select run_id, first_run_id, kind from etl.rejection")
    # run_id: the run that last read and rejected it
    assert (row["run_id"], row["first_run_id"], row["kind"]) == (
        first.run_id,
        first.run_id,
        "yaml_syntax",
    )
    bad.write_text("---\ntitle: fixed\nwebUrl: https://x.example/a\n---\n")
    third = run_ingest(settings)
    assert third.files_loaded == 1
    assert query(settings.warehouse, "select count(*) as n from etl.rejection") == [{"n": 0}]
    # A rejected file that is deleted leaves the quarantine too.
    (src / "b.md").write_text("not front matter")
    run_ingest(settings)
    assert query(settings.warehouse, "select count(*) as n from etl.rejection") == [{"n": 1}]
    (src / "b.md").unlink()
    run_ingest(settings)
    assert query(settings.warehouse, "select count(*) as n from etl.rejection") == [{"n": 0}]


@pytest.mark.slow
def test_hostile_files_among_1000_good_documents_through_the_cli(
    hostile: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    _, marker, expected = hostile
    corpus = tmp_path / "corpus"
    build_hostile_corpus(corpus / "bad", marker)
    docs = write_corpus(corpus / "good", 1000, seed=11)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    args = [NEWSFLOW, "run", "--no-prefect", "--source", str(corpus), "--warehouse",
            str(tmp_path / "acc.duckdb"), "--max-file-bytes", str(MAX_FILE_BYTES), "--batch-size", "200"]  # fmt: skip
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 800, f"peak RSS of a child process was {peak_mb:.0f} MB"
    strict = subprocess.run(
        [*args, "--strict"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert strict.returncode == 1
    assert "document(s) rejected" in strict.stderr
    assert not marker.exists()

    wh = tmp_path / "acc.duckdb"
    [run] = query(wh, "select * from etl.run order by started_at limit 1")
    n_bad = sum(1 for o in expected.values() if o.kind)
    winners = {d.web_url: d for d in sorted(docs, key=lambda d: d.published_at)}
    assert run["files_rejected"] == n_bad
    assert run["files_loaded"] == len(winners) + 4
    assert run["files_skipped"] == len(docs) - len(winners)
    assert run["files_ignored"] == 1
    assert (
        run["files_seen"]
        == run["files_loaded"] + run["files_rejected"] + run["files_skipped"] + run["files_ignored"]
    )
    assert (
        f"files: {run['files_seen']} seen = {run['files_loaded']} loaded + {n_bad} rejected"
        in proc.stdout
    )

    rows = query(
        wh,
        "select article.web_url, article.title, article.quality, article.heat, article.is_published, "
        "article.published_at, provider.domain, provider.name, article.body, "
        "(select list(topic.name order by article_topic.position) from article_topic "
        " join topic using (topic_id) where article_topic.article_id = article.article_id) as topics, "
        "(select count(*) from image where image.article_id = article.article_id and related_id is null) as images, "
        "(select count(*) from image where image.article_id = article.article_id and related_id is not null) as related_images, "
        "(select count(*) from related where related.article_id = article.article_id) as related "
        "from article join provider using (provider_id) where article.web_url like 'https://www.%'",
    )
    got = {r["web_url"]: r for r in rows}
    assert len(got) == len(winners)
    for url, doc in winners.items():
        assert got[url] == {
            "web_url": url, "title": doc.title, "quality": doc.quality, "heat": doc.heat,
            "is_published": doc.is_published, "published_at": doc.published_at,
            "domain": doc.provider_domain, "name": got[url]["name"], "body": doc.body,
            "topics": doc.topics, "images": doc.images, "related_images": doc.related_images,
            "related": doc.related,
        }, url  # fmt: skip
    # 12 from wrong_types_ok.md, 2 from overflow_ts_ok.md, "no provider" for bom_ok.txt and
    # crlf_ok.md; none from the 1,000 well-formed documents.
    assert query(wh, "select count(*) as n from etl.warning") == [{"n": 16}]


_yamlish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC)),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yamlish, st.sampled_from(["json", "flow", "block"]))
def test_any_yamlish_document_gives_rows_or_a_rejection(value: object, style: str) -> None:
    import yaml

    if style == "json":
        text = json.dumps(value, default=str)
    else:
        text = yaml.safe_dump(value, default_flow_style=style == "flow", allow_unicode=True)
    raw = ("---\n" + text + "\n---\nbody\n").encode("utf-8", "surrogatepass")
    doc = parse_document("p.md", raw)
    assert isinstance(doc, FrontMatter | Rejection)
    if isinstance(doc, FrontMatter):
        result = normalize_document(doc)
        assert isinstance(result, DocumentRows | Rejection)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_a_delimiter_never_crash(raw: bytes) -> None:
    doc = parse_document("p.md", b"---\n" + raw + b"\n---\n")
    if isinstance(doc, FrontMatter):
        assert isinstance(normalize_document(doc), DocumentRows | Rejection)
    else:
        assert isinstance(doc, Rejection) and doc.reason


def test_a_file_name_that_is_not_utf8_is_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text("---\ntitle: Good\nwebUrl: https://x.example/good\n---\n")
    bad = os.fsdecode(os.fsencode(src) + b"/bad\xffname.md")
    try:
        Path(bad).write_text("---\ntitle: Bad name\nwebUrl: https://x.example/bad\n---\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    settings = load_settings(env={}, sources=(src,), warehouse=tmp_path / "n.duckdb", workers=1)
    shown = f"{src}/bad\\xffname.md"
    first = run_ingest(settings)
    assert (first.files_seen, first.files_loaded, first.files_rejected) == (2, 1, 1)
    assert [r["location"] for r in first.rejections] == [shown]
    rejection = "select path, run_id, first_run_id, stage, kind, reason from etl.rejection"
    assert query(settings.warehouse, rejection) == [
        {"path": shown, "run_id": first.run_id, "first_run_id": first.run_id,
         "stage": "discover", "kind": "bad_file_name",
         "reason": "the file name is not valid UTF-8 (its stray bytes are shown as \\xNN): "
                   "rename the file"}
    ]  # fmt: skip
    # a re-run keeps it quarantined (not forgotten as missing) and changes nothing else
    second = run_ingest(settings)
    assert (second.files_loaded, second.files_unchanged, second.files_rejected) == (0, 1, 1)
    [row] = query(settings.warehouse, rejection)
    assert (row["path"], row["run_id"], row["first_run_id"]) == (shown, second.run_id, first.run_id)
    assert query(settings.warehouse, "select path from etl.file where path like '%bad%'") == []
    # renamed: it loads, and the quarantine row goes
    os.rename(bad, src / "renamed.md")
    third = run_ingest(settings)
    assert (third.files_loaded, third.files_rejected) == (1, 0)
    assert query(settings.warehouse, "select count(*) as n from etl.rejection") == [{"n": 0}]
    assert query(settings.warehouse, "select count(*) as n from article") == [{"n": 2}]


@pytest.mark.slow
def test_seeds_among_every_hostile_file_and_a_crashing_parser_through_the_cli(
    tmp_path: Path,
) -> None:
    """The seeds mixed with every hostile file, with worker processes, one of which a parser
    crash kills (a real SIGSEGV, through the test hook): exit 0, the seeds loaded exactly as
    alone, every file accounted for, the crashed file quarantined by name."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus / "seeds")
    expected = build_hostile_corpus(corpus / "bad", tmp_path / "pwned")
    crash = corpus / "bad" / "crash.md"
    crash.write_text("---\n# CRASH-THE-PARSER\nwebUrl: https://hostile.example/c\n---\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["NEWSFLOW_TEST_CRASH_ON"] = "CRASH-THE-PARSER"

    def run(source: Path, warehouse: Path) -> subprocess.CompletedProcess[str]:
        args = [NEWSFLOW, "run", "--no-prefect", "--source", str(source), "--warehouse",
                str(warehouse), "--max-file-bytes", str(MAX_FILE_BYTES), "--workers", "2",
                "--batch-size", "10"]  # fmt: skip
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)

    mixed = run(corpus, tmp_path / "mixed.duckdb")
    assert mixed.returncode == 0, mixed.stderr
    alone = run(corpus / "seeds", tmp_path / "alone.duckdb")
    assert alone.returncode == 0, alone.stderr

    seed_rows = (
        "select a.*, (select count(*) from image i where i.article_id = a.article_id) as images,"
        " (select count(*) from related r where r.article_id = a.article_id) as related,"
        " (select list(topic_id order by position) from article_topic t"
        "  where t.article_id = a.article_id) as topics"
        " from article a where a.source_path like '%/seeds/%' order by a.article_id"
    )
    seeds = query(tmp_path / "alone.duckdb", seed_rows)
    assert len(seeds) > 0
    assert query(tmp_path / "mixed.duckdb", seed_rows) == seeds

    bad = {name: o for name, o in expected.items() if o.kind}
    rows = {
        Path(r["path"]).name: r
        for r in query(
            tmp_path / "mixed.duckdb", "select path, kind, line, col, reason from etl.rejection"
        )
    }
    assert sorted(rows) == sorted([*bad, "crash.md"])
    for name, outcome in bad.items():
        assert (rows[name]["kind"], rows[name]["line"], rows[name]["col"]) == (
            outcome.kind, outcome.line, outcome.col,
        ), name  # fmt: skip
        if outcome.reason:
            assert rows[name]["reason"] == outcome.reason, name
    assert rows["crash.md"] == {
        "path": crash.resolve().as_posix(),
        "kind": "parser_crash",
        "line": None,
        "col": None,
        "reason": "the parser crashed on this file (its worker process: killed by SIGSEGV)",
    }
    [summary] = query(tmp_path / "mixed.duckdb", "select * from etl.run")
    [seed_summary] = query(tmp_path / "alone.duckdb", "select * from etl.run")
    good = sum(1 for o in expected.values() if not o.kind)
    assert summary["files_loaded"] == seed_summary["files_loaded"] + good
    assert summary["files_rejected"] == len(bad) + 1
    assert summary["files_ignored"] == seed_summary["files_ignored"] + 1  # notes.json
    assert (
        summary["files_seen"]
        == summary["files_loaded"] + summary["files_rejected"] + summary["files_skipped"]
        + summary["files_ignored"]
    )  # fmt: skip
    # every hostile file (each outcome, notes.json, crash.md) is seen once, besides the seeds
    assert summary["files_seen"] == seed_summary["files_seen"] + len(expected) + 2


@pytest.mark.slow
def test_a_12000_level_block_list_is_quarantined_by_run_and_explained(tmp_path: Path) -> None:
    """24 KB of '- - - ...' once overflowed the fast parser's stack: run and explain died with
    a segfault (exit 139) and the file was never quarantined."""
    src = tmp_path / "src"
    src.mkdir()
    deep = src / "deep_list.txt"
    deep.write_bytes(
        b"---\nwebUrl: https://hostile.example/dl\nx:\n" + b"- " * 12_000 + b"end\n---\n"
    )
    (src / "ok.md").write_text('---\ntitle: "ok"\nwebUrl: "https://hostile.example/ok"\n---\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    warehouse = tmp_path / "d.duckdb"
    run = subprocess.run(
        [NEWSFLOW, "run", "--no-prefect", "--source", str(src), "--warehouse", str(warehouse)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert query(warehouse, "select path, kind, line, col, reason from etl.rejection") == [
        {
            "path": deep.resolve().as_posix(), "kind": "too_deep", "line": 4, "col": 99,
            "reason": "could not parse front matter: nesting is deeper than 50 levels",
        }
    ]  # fmt: skip
    assert query(warehouse, "select canonical_url from article") == [
        {"canonical_url": "https://hostile.example/ok"}
    ]
    explain = subprocess.run(
        [NEWSFLOW, "explain", str(deep), "--warehouse", str(warehouse)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert explain.returncode == 1, explain.stderr
    path = deep.resolve().as_posix()
    assert explain.stdout.splitlines()[:3] == [
        f"file: {path}",
        "REJECTED at extract (too_deep):",
        f"  {path}:4:99: could not parse front matter: nesting is deeper than 50 levels",
    ]


@pytest.mark.slow
def test_explain_shows_a_huge_integer_and_an_overflowing_timestamp(tmp_path: Path) -> None:
    """Both were kind 'unexpected' with no line, and explain crashed on them."""
    huge = tmp_path / "huge_int.txt"
    huge.write_bytes(
        b"---\nwebUrl: https://hostile.example/i\nquality: " + b"9" * 5_000 + b"\n---\n"
    )
    late = tmp_path / "late.md"
    late.write_text(
        "---\nwebUrl: https://hostile.example/ts\n"
        "publishedDateTime: 9999-12-31T23:30:00-05:00\n---\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}

    def explain(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NEWSFLOW, "explain", str(path)], env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip

    rejected = explain(huge)
    assert rejected.returncode == 1, rejected.stderr
    path = huge.resolve().as_posix()
    assert rejected.stdout.splitlines() == [
        f"file: {path}",
        "REJECTED at extract (yaml_value):",
        f"  {path}:3:10: could not parse front matter: integer of 5000 digits is too long to be "
        "a number (key 'quality')",
        "    1 | ---",
        "    2 | webUrl: https://hostile.example/i",
        "    3 | quality: " + "9" * 91 + "…",  # a long line: a window of 100 characters
        "      |          ^",
        "    4 | ---",
        "  hint: quote the value to keep it as text, or correct it (e.g. a real date)",
    ]
    loaded = explain(late)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[-3:] == [
        "warnings:",
        "  publishedDateTime: timestamp 9999-12-31T23:30:00-05:00 is out of range in UTC; "
        "stored as NULL",
        "  provider: no provider",
    ]
