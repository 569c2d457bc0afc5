-- quality_by_provider: one row per provider with at least one article (provider_id)
-- materialized: table
-- Which providers publish the best-rated articles, how many, how much of it is published, and
-- over which period. Providers only ever cited as related entries have no articles here; live
-- articles only.

with articles as (
    select * from stg_article
),

providers as (
    select * from provider
),

per_provider as (
    select
        articles.provider_id,
        count(*) as article_count,
        count(articles.quality) as rated_article_count,
        avg(articles.quality) as mean_quality,
        median(articles.quality) as median_quality,
        -- share of articles flagged published among those that say either way
        avg(articles.is_published::integer) as published_share,
        min(articles.published_at) as first_published_at,
        max(articles.published_at) as last_published_at
    from articles
    where articles.provider_id is not null
    group by articles.provider_id
),

final as (
    select
        per_provider.provider_id,
        providers.name as provider_name,
        providers.domain,
        per_provider.article_count,
        per_provider.rated_article_count,
        round(per_provider.mean_quality, 2) as mean_quality,
        per_provider.median_quality,
        per_provider.published_share,
        per_provider.first_published_at,
        per_provider.last_published_at
    from per_provider
    inner join providers on per_provider.provider_id = providers.provider_id
)

select * from final
order by final.mean_quality desc nulls last, final.article_count desc, final.provider_name asc
