"""Full-text search over articles: the token index the run keeps, and its BM25 ranking in SQL.

DuckDB 2.0 here has no ``fts`` extension (it cannot be downloaded at run time, and the 1.4 line's
PyPI package does not load in 2.0; docs/duckdb-line.md), so the index is two plain tables in the
``search`` schema (sql/schema/03_search.sql) and the ranking is one SQL query (docs/search.md):

- a **term** is a lowercase run of letters and digits (:data:`TOKEN_SPLIT`; no stemming, no
  stop words) of the article's title, excerpt and body; only live articles are indexed;
- ``search.term`` holds (term, article_id, tf), ``search.document`` (article_id, length);
- the run refreshes both, in one transaction, only when the articles changed: the fingerprint of
  the live articles (a hash of their ids and indexed text) is kept in ``etl.meta``
  (:data:`FINGERPRINT_KEY`) and compared with the current one; a refresh tokenizes only the
  articles that are new or changed, and drops those retired or gone (``search.document`` keeps
  each article's content hash).

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

# What an article's index rows are made of: its id and the indexed text. The index is kept per
# article: an article whose content hash changed (or that is new) is tokenized again, one that is
# retired or gone is dropped, and the others are left as they are.
_CONTENT_HASH = "hash({a}article_id, {a}title, {a}excerpt, {a}body)"

# The live articles' ids and indexed text, order-independent: changes when any article's title,
# excerpt or body changes, or an article is added, retired or removed.
FINGERPRINT_SQL = (
    "select count(*) || ':' || coalesce(sum(" + _CONTENT_HASH.format(a="") + ")::varchar, '0') "
    "from article where deleted_at is null"
)

REFRESH_SQL = [
    # Indexed articles that are no longer live, or whose text changed.
    "create or replace temporary table _search_stale as "
    "select d.article_id from search.document d "
    "left join article a on a.article_id = d.article_id and a.deleted_at is null "
    "and " + _CONTENT_HASH.format(a="a.") + " = d.content_hash "
    "where a.article_id is null",
    "delete from search.term where article_id in (select article_id from _search_stale)",
    "delete from search.document where article_id in (select article_id from _search_stale)",
    # Live articles not indexed (new, changed, or never indexed).
    "create or replace temporary table _search_fresh as "
    "select article_id, " + _CONTENT_HASH.format(a="") + " as content_hash, "
    "concat_ws(' ', title, excerpt, body) as text "
    "from article a where deleted_at is null and not exists "
    "(select 1 from search.document d where d.article_id = a.article_id)",
    "create or replace temporary table _search_tokens as "
    "select article_id, " + _TERMS.format(text="text") + " as term from _search_fresh",
    "insert into search.term select term, article_id, count(*)::integer from _search_tokens "
    "where term <> '' group by all order by term, article_id",
    "insert into search.document select f.article_id, count(t.term)::integer, f.content_hash "
    "from _search_fresh f left join _search_tokens t "
    "on t.article_id = f.article_id and t.term <> '' group by all order by f.article_id",
    "drop table _search_tokens",
    "drop table _search_fresh",
    "drop table _search_stale",
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
    """Bring the search index up to date when the live articles changed since it was last
    refreshed (or it never was), in one transaction, noting ``run_id`` in ``etl.meta``: only
    the articles that are new, changed, retired or gone are tokenized again or dropped. True when
    it was refreshed."""
    current = fingerprint(conn)
    rows = conn.execute("select value from etl.meta where key = ?", [FINGERPRINT_KEY]).fetchall()
    if rows and rows[0][0] == current:
        return False
    conn.execute("begin transaction")
    try:
        for sql in REFRESH_SQL:
            conn.execute(sql)
        for key, value in ((FINGERPRINT_KEY, current), (BUILT_BY_KEY, run_id)):
            conn.execute("insert or replace into etl.meta values (?, ?)", [key, value])
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return True
