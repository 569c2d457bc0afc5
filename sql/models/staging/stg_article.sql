-- stg_article: one row per live article (article_id)
-- The article columns the marts read, for live articles only (an article whose file was deleted
-- is kept in article with deleted_at set, but no longer counts), with the publication time
-- bucketed into UTC days, ISO weeks and months, so every mart groups time the same way whatever
-- the session time zone.

with articles as (
    select * from article
),

live as (
    select * from articles
    where articles.deleted_at is null
),

bucketed as (
    select
        live.article_id,
        live.canonical_url,
        live.title,
        live.category,
        live.type,
        live.provider_id,
        live.quality,
        live.heat,
        live.is_published,
        live.published_at,
        -- timestamptz truncation follows the session time zone; pin buckets to UTC instead
        timezone('UTC', live.published_at) as published_at_utc,
        live.source_path
    from live
),

final as (
    select
        bucketed.article_id,
        bucketed.canonical_url,
        bucketed.title,
        bucketed.category,
        bucketed.type,
        bucketed.provider_id,
        bucketed.quality,
        bucketed.heat,
        bucketed.is_published,
        bucketed.published_at,
        bucketed.published_at_utc::date as published_on,
        date_trunc('week', bucketed.published_at_utc)::date as published_week,
        strftime(bucketed.published_at_utc, '%G-W%V') as published_iso_week,
        date_trunc('month', bucketed.published_at_utc)::date as published_month,
        bucketed.source_path
    from bucketed
)

select * from final
