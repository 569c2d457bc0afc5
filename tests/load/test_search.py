"""The search index and its BM25 ranking, against scores computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from flows.db import ensure_schema
from flows.load.search import SEARCH_SQL, fingerprint, query_terms, refresh_index
from flows.settings import SQL_DIR

# title, excerpt, body
DOCS = {
    "a1": ("Robot vision", "robot robot lab", None),
    "a2": ("Cloud report", "a robot in the cloud", "long body text here"),
    "a3": ("Chips", "nothing", None),
}


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    ensure_schema(conn, SQL_DIR)
    for article_id, (title, excerpt, body) in DOCS.items():
        conn.execute(
            "insert into article (article_id, canonical_url, title, excerpt, body, source_path, "
            "source_sha256) values (?, ?, ?, ?, ?, ?, ?)",
            [article_id, f"https://x.test/{article_id}", title, excerpt, body, article_id, "h"],
        )
    yield conn
    conn.close()


def search(conn: duckdb.DuckDBPyConnection, query: str, limit: int = 10) -> list[tuple]:
    rows = conn.execute(SEARCH_SQL, {"query": query, "limit": limit}).fetchall()
    return [(row[0], round(row[-1], 6)) for row in rows]


def test_index_holds_term_counts_and_lengths(conn) -> None:
    assert refresh_index(conn) is True
    assert conn.execute(
        "select * from search.term where article_id = 'a1' order by term"
    ).fetchall() == [
        ("lab", "a1", 1),
        ("robot", "a1", 3),
        ("vision", "a1", 1),
    ]
    assert conn.execute(
        "select article_id, length from search.document order by all"
    ).fetchall() == [
        ("a1", 5),
        ("a2", 11),
        ("a3", 2),
    ]


def test_bm25_scores_match_the_hand_computed_ones(conn) -> None:
    refresh_index(conn)
    # N = 3 documents, lengths 5, 11, 2: avgdl = 6; k1 = 1.2, b = 0.75
    # robot in a1 (tf 3) and a2 (tf 1): IDF = ln((3 - 2 + 0.5) / 2.5 + 1) = ln 1.6
    # vision in a1 only (tf 1): IDF = ln((3 - 1 + 0.5) / 1.5 + 1) = ln(8 / 3)
    # a1: norm = 0.25 + 0.75 * 5 / 6 = 0.875; a2: norm = 0.25 + 0.75 * 11 / 6 = 1.625
    a1 = math.log(1.6) * 3 * 2.2 / (3 + 1.2 * 0.875) + math.log(8 / 3) * 2.2 / (1 + 1.2 * 0.875)
    a2 = math.log(1.6) * 2.2 / (1 + 1.2 * 1.625)
    assert round(a1, 6) == 1.818529
    assert round(a2, 6) == 0.350511
    assert search(conn, "Robot, VISION!") == [("a1", round(a1, 6)), ("a2", round(a2, 6))]


def test_ranked_order_limit_and_no_match(conn) -> None:
    refresh_index(conn)
    # "cloud" twice in a2 (title and excerpt), "robot" in both: a2 first for this query
    assert [a for a, _ in search(conn, "cloud robot")] == ["a2", "a1"]
    assert [a for a, _ in search(conn, "cloud robot", limit=1)] == ["a2"]
    assert search(conn, "zebra") == []
    # a repeated query term counts once
    assert search(conn, "vision vision") == search(conn, "vision")


def test_query_terms_are_lowercase_runs_of_letters_and_digits(conn) -> None:
    assert query_terms(conn, "Robot, VISION! robot 5G Zürich") == [
        "5g",
        "robot",
        "vision",
        "zürich",
    ]
    assert query_terms(conn, " -- !? ") == []


def test_unchanged_articles_do_not_rebuild_and_a_change_does(conn) -> None:
    assert refresh_index(conn) is True
    before = fingerprint(conn)
    assert refresh_index(conn) is False
    conn.execute("update article set source_sha256 = 'h2', title = 'Zebra' where article_id = 'a3'")
    assert fingerprint(conn) != before
    assert refresh_index(conn) is True
    assert search(conn, "zebra") == [("a3", search(conn, "zebra")[0][1])]
    conn.execute("update article set deleted_at = now() where article_id = 'a3'")
    assert refresh_index(conn) is True
    assert search(conn, "zebra") == []
    assert conn.execute("select count(*) from search.document").fetchall() == [(2,)]


def test_an_empty_warehouse_searches_to_nothing(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        ensure_schema(conn, SQL_DIR)
        assert refresh_index(conn) is True
        assert search(conn, "robot") == []
    finally:
        conn.close()


def _index(conn: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    return (
        conn.execute("select * from search.term order by all").fetchall(),
        conn.execute("select * from search.document order by all").fetchall(),
    )


def test_a_refresh_touches_only_the_changed_articles_and_equals_a_full_build(conn) -> None:
    refresh_index(conn)
    # A marker row on a1: kept by a refresh that does not re-tokenize a1.
    conn.execute("insert into search.term values ('marker', 'a1', 1)")
    conn.execute(
        "update article set excerpt = 'zebra crossing', source_sha256 = 'h3' where article_id = 'a3'"
    )
    conn.execute(
        "insert into article (article_id, canonical_url, title, source_path, source_sha256) "
        "values ('a4', 'https://x.test/a4', 'Zebra herd', 'a4', 'h')"
    )
    conn.execute("update article set deleted_at = now() where article_id = 'a2'")
    assert refresh_index(conn) is True
    term, document = _index(conn)
    assert ("marker", "a1", 1) in term  # a1 unchanged: left as it was
    assert not any(row[1] == "a2" for row in term + document)  # retired: dropped
    assert [a for a, _ in search(conn, "zebra")] == ["a4", "a3"]
    # The same index as a build from nothing.
    conn.execute("delete from search.term where term = 'marker'")
    incremental = _index(conn)
    conn.execute("delete from search.term")
    conn.execute("delete from search.document")
    conn.execute("delete from etl.meta where key = 'search_fingerprint'")
    assert refresh_index(conn) is True
    assert _index(conn) == incremental
