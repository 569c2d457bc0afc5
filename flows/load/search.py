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

from typing import Any

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

# What an article's index rows are made of, without reading its text (which may be megabytes):
# its id, the hash of the file it came from and the contract (with the source profile) that
# file was read under. The same three always give the same title, excerpt and body. The index
# is kept per article: an article whose version changed (or that is new) is tokenized again,
# one that is retired or gone is dropped, and the others are left as they are.
_LIVE = (
    "select a.article_id, hash(a.article_id, a.source_sha256, f.contract_version) as version, "
    "coalesce(f.size, 0) as size from article a left join etl.file f on f.path = a.source_path "
    "where a.deleted_at is null"
)

# The live articles' versions, order-independent: changes when any article is loaded again,
# added, retired or removed.
FINGERPRINT_SQL = f"select count(*) || ':' || coalesce(sum(version)::varchar, '0') from ({_LIVE})"

# Indexed articles that are no longer live, or whose version changed: dropped from the index.
_STALE_SQL = [
    "create or replace temporary table _search_stale as "
    f"select d.article_id from search.document d left join ({_LIVE}) live "
    "on live.article_id = d.article_id and live.version = d.content_hash "
    "where live.article_id is null",
    "delete from search.term where article_id in (select article_id from _search_stale)",
    "delete from search.document where article_id in (select article_id from _search_stale)",
    "drop table _search_stale",
]

# Live articles not in the index (new, changed, or never indexed): id, version and file size.
_FRESH_SQL = (
    f"select article_id, version, size from ({_LIVE}) live where not exists "
    "(select 1 from search.document d where d.article_id = live.article_id) order by article_id"
)


def _index_group_sql(count: int) -> list[str]:
    """One group of ``count`` fresh articles tokenized and indexed; parameters: the ids, then
    (id, version) pairs. A literal list of ids is pushed into the scan of ``article``, so only
    the group's texts are read."""
    ids = ", ".join(["?"] * count)
    pairs = ", ".join(["(?, ?)"] * count)
    return [
        "create or replace temporary table _search_tokens as select article_id, "
        + _TERMS.format(text="concat_ws(' ', title, excerpt, body)")
        + f" as term from article where article_id in ({ids})",
        "insert into search.term select term, article_id, count(*)::integer "
        "from _search_tokens where term <> '' group by all",
        "insert into search.document select v.article_id, coalesce(n.length, 0)::integer, "
        f"v.version from (values {pairs}) v(article_id, version) left join "
        "(select article_id, count(*) as length from _search_tokens where term <> '' "
        "group by article_id) n on n.article_id = v.article_id",
        "drop table _search_tokens",
    ]


# Text bytes tokenized at once: a term's row takes several times its text, so this keeps the
# refresh within a small DuckDB memory limit (docs/memory.md) whatever the articles' sizes.
DEFAULT_GROUP_BYTES = 8 * 2**20


def _groups(fresh: list[tuple[str, int, int]], max_bytes: int) -> list[list[tuple[str, int]]]:
    """(article id, version) in groups of at most ``max_bytes`` of source files (a larger
    article alone)."""
    groups: list[list[tuple[str, int]]] = []
    group: list[tuple[str, int]] = []
    size = 0
    for article_id, version, length in fresh:
        if group and size + length > max_bytes:
            groups.append(group)
            group, size = [], 0
        group.append((article_id, version))
        size += length
    if group:
        groups.append(group)
    return groups


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


def refresh_index(
    conn: duckdb.DuckDBPyConnection, run_id: str = "", max_bytes: int = DEFAULT_GROUP_BYTES
) -> bool:
    """Bring the search index up to date when the live articles changed since it was last
    refreshed (or it never was), noting ``run_id`` in ``etl.meta``: only the articles that are
    new, changed, retired or gone are tokenized again or dropped, at most ``max_bytes`` of source
    files at a time. True when it was refreshed.

    Each step is its own transaction and leaves every article's rows whole, so an interrupted
    refresh is finished by the next one (the fingerprint is written last); the run publishes
    the warehouse only after it, so readers never see a part-refreshed index."""
    current = fingerprint(conn)
    rows = conn.execute("select value from etl.meta where key = ?", [FINGERPRINT_KEY]).fetchall()
    if rows and rows[0][0] == current:
        return False
    _in_transaction(conn, [(sql, None) for sql in _STALE_SQL])
    fresh = [(str(a), int(v), int(n)) for a, v, n in conn.execute(_FRESH_SQL).fetchall()]
    for group in _groups(fresh, max_bytes):
        ids = [article_id for article_id, _ in group]
        pairs = [value for pair in group for value in pair]
        first, term, document, drop = _index_group_sql(len(group))
        _in_transaction(conn, [(first, ids), (term, None), (document, pairs), (drop, None)])
    _in_transaction(
        conn,
        [
            ("insert or replace into etl.meta values (?, ?)", [FINGERPRINT_KEY, current]),
            ("insert or replace into etl.meta values (?, ?)", [BUILT_BY_KEY, run_id]),
        ],
    )
    return True


def _in_transaction(conn: duckdb.DuckDBPyConnection, statements: list[tuple[str, Any]]) -> None:
    conn.execute("begin transaction")
    try:
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
