-- Normalized warehouse tables (main schema). Applied with `create ... if not exists` on every run.
--
-- Keys: provider and topic are upserted (on conflict) and keep their primary keys. The article
-- tables (article, related, image, article_topic) have none on purpose: the loader replaces an
-- article's rows as a whole (delete + insert by article_id, one winner per article_id), the
-- data tests check every key is unique and not null, and maintaining the indexes cost a third of
-- the load time at 100,000 documents. Analytical joins use hash joins, not these indexes.
-- Measured again with foreign keys (which the loader cannot meet) in docs/duckdb-line.md#keys.

-- provider: one row per provider, keyed by canonical domain (lowercase, no leading www.)
create table if not exists provider (
    provider_id varchar primary key,
    domain varchar,
    name varchar,
    name_observed_at timestamptz
);

-- article: one row per canonical URL (webUrl, else originalUrl)
create table if not exists article (
    article_id varchar not null,
    canonical_url varchar not null,
    title varchar,
    excerpt varchar,
    category varchar,
    type varchar,
    published_at timestamptz,
    original_url varchar,
    web_url varchar,
    amp_web_url varchar,
    cdn_amp_web_url varchar,
    quality integer,
    heat integer,
    is_published boolean,
    provider_id varchar,
    -- long, rarely filtered text: zstd writes it faster and smaller than the default analysis
    secured varchar using compression zstd,
    body varchar using compression zstd,
    extra json,
    source_path varchar not null,
    source_sha256 varchar not null,
    -- set when the article's file was deleted (or now yields another URL); NULL while live
    deleted_at timestamptz
);

-- related: one row per related entry of an article (article_id, position)
create table if not exists related (
    related_id varchar not null,
    article_id varchar not null,
    position integer not null,
    related_article_id varchar,
    title varchar,
    excerpt varchar,
    published_at timestamptz,
    original_url varchar,
    web_url varchar,
    amp_web_url varchar,
    cdn_amp_web_url varchar,
    type varchar,
    provider_id varchar,
    quality integer,
    extra json
);

-- image: one row per image of an article or of one of its related entries
create table if not exists image (
    image_id varchar not null,
    article_id varchar not null,
    related_id varchar,
    position integer not null,
    url varchar not null,
    width integer,
    height integer,
    is_cached boolean,
    extra json
);

-- topic: one row per distinct topic (case-insensitive, whitespace-collapsed)
create table if not exists topic (
    topic_id varchar primary key,
    name varchar not null
);

-- article_topic: one row per (article, topic), in the order the article lists them
create table if not exists article_topic (
    article_id varchar not null,
    topic_id varchar not null,
    position integer not null
);
