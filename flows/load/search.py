"""Full-text search over articles: the token index the run keeps, and its BM25 ranking in SQL.

DuckDB 2.0 here has no ``fts`` extension (it cannot be downloaded at run time, and the 1.4 line's
PyPI package does not load in 2.0; docs/duckdb-line.md), so the index is two plain tables in the
``search`` schema (sql/schema/03_search.sql) and the ranking is one SQL query (docs/search.md):

- a **term** is a lowercase run of letters and digits (:data:`TOKEN_SPLIT`; no stemming, no
  stop words) of the article's title, excerpt and body; only live articles are indexed;
- ``search.term`` holds (term, article_id, tf), ``search.document`` (article_id, length);
- the run rebuilds both, in one transaction, only when the articles changed: the fingerprint of
  the live articles (their ids and file hashes) is kept in ``etl.meta`` (:data:`FINGERPRINT_KEY`)
  and compared with the current one.

The score is Okapi BM25 with DuckDB fts's defaults (k1 = 1.2, b = 0.75, the same IDF)::

    score(D, Q) = sum over distinct terms q of Q present in D of
                  IDF(q) * tf(q, D) * (k1 + 1) / (tf(q, D) + k1 * (1 - b + b * |D| / avgdl))
    IDF(q) = ln((N - n(q) + 0.5) / (n(q) + 0.5) + 1)

with N the live articles, n(q) those containing q, |D| the terms of D and avgdl their mean.
"""

from __future__ import annotations

import duckdb

K1 = 1.2
B = 0.75
# Everything that is not a letter or a digit separates terms.
TOKEN_SPLIT = r"[^\p{L}\p{N}]+"
FINGERPRINT_KEY = "search_fingerprint"
BUILT_BY_KEY = "search_built_by"  # the run that last rebuilt the index

_TERMS = (
    "unnest(regexp_split_to_array(lower({text}), '"
    + TOKEN_SPLIT.replace("{", "{{").replace("}", "}}")
    + "'))"
)

# The live articles' ids and file hashes, order-independent: changes when any article is loaded
# again, added, retired or removed.
FINGERPRINT_SQL = (
    "select count(*) || ':' || coalesce(sum(hash(article_id, source_sha256))::varchar, '0') "
    "from article where deleted_at is null"
)

REBUILD_SQL = [
    "delete from search.term",
    "delete from search.document",
    "create temporary table _search_tokens as "
    "select article_id, "
    + _TERMS.format(text="concat_ws(' ', title, excerpt, body)")
    + " as term from article where deleted_at is null",
    "insert into search.term select term, article_id, count(*)::integer from _search_tokens "
    "where term <> '' group by all order by term, article_id",
    "insert into search.document select a.article_id, count(t.term)::integer "
    "from article a left join _search_tokens t on t.article_id = a.article_id and t.term <> '' "
    "where a.deleted_at is null group by all order by a.article_id",
    "drop table _search_tokens",
]

# $terms: the query's distinct terms; $limit: rows at most. Ties are ordered by article_id.
SEARCH_SQL = f"""
with stats as (
    select count(*) as n, coalesce(avg(length), 0) as avgdl from search.document
),
query as (
    select distinct term from (select {_TERMS.format(text="$query")} as term) where term <> ''
),
df as (
    select t.term, count(*) as n_q from search.term t join query using (term) group by t.term
),
scored as (
    select t.article_id,
        sum(
            ln((stats.n - df.n_q + 0.5) / (df.n_q + 0.5) + 1)
            * t.tf * ({K1} + 1)
            / (t.tf + {K1} * (1 - {B} + {B} * d.length / stats.avgdl))
        ) as score
    from search.term t
    join df using (term)
    join search.document d using (article_id)
    cross join stats
    group by t.article_id
)
select s.article_id, a.title, a.published_at, p.name as provider, s.score
from scored s
join article a using (article_id)
left join provider p using (provider_id)
order by s.score desc, s.article_id
limit $limit
"""

QUERY_TERMS_SQL = (
    f"select distinct term from (select {_TERMS.format(text='$query')} as term) "
    "where term <> '' order by term"
)


def query_terms(conn: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    """The distinct terms a search for ``query`` looks for (empty: nothing to search)."""
    return [row[0] for row in conn.execute(QUERY_TERMS_SQL, {"query": query}).fetchall()]


def fingerprint(conn: duckdb.DuckDBPyConnection) -> str:
    return str(conn.execute(FINGERPRINT_SQL).fetchall()[0][0])


def refresh_index(conn: duckdb.DuckDBPyConnection, run_id: str = "") -> bool:
    """Rebuild the search index when the live articles changed since it was built (or it never
    was), in one transaction, noting ``run_id`` in ``etl.meta``; True when it was rebuilt."""
    current = fingerprint(conn)
    rows = conn.execute("select value from etl.meta where key = ?", [FINGERPRINT_KEY]).fetchall()
    if rows and rows[0][0] == current:
        return False
    conn.execute("begin transaction")
    try:
        for sql in REBUILD_SQL:
            conn.execute(sql)
        for key, value in ((FINGERPRINT_KEY, current), (BUILT_BY_KEY, run_id)):
            conn.execute("insert or replace into etl.meta values (?, ?)", [key, value])
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return True
