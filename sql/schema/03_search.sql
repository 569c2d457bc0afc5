-- Full-text search over articles (search schema): a token table the run refreshes, per article,
-- when the articles changed, ranked by BM25 in SQL (flows/load/search.py, docs/search.md).
create schema if not exists search;

-- search.term: one row per (live article, term) with the term's count in the article's title,
-- excerpt and body
create table if not exists search.term (
    term varchar not null,
    article_id varchar not null,
    tf integer not null
);

-- search.document: one row per live article with its length in terms
create table if not exists search.document (
    article_id varchar not null,
    length integer not null,
    content_hash ubigint not null
);

comment on table search.term is
'Full-text index: one row per (live article, term); kept up to date per article by each run.';
comment on column search.term.term is 'A lowercase run of letters and digits.';
comment on column search.term.article_id is 'The article.';
comment on column search.term.tf is
'How often the term occurs in the title, excerpt and body.';
comment on table search.document is
'Full-text index: one row per live article with its length in terms (for BM25).';
comment on column search.document.article_id is 'The article.';
comment on column search.document.length is
'Terms in the article''s title, excerpt and body.';
comment on column search.document.content_hash is
'Hash of the article id, its file''s sha256 and the contract version it was indexed under.';
