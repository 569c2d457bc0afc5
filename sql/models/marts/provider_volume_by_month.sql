-- provider_volume_by_month: one row per provider and UTC month (provider_id, month_start)
-- materialized: table
-- How many articles each provider published month by month, from its first to its last
-- article, and what part of the month's articles that was. Months without articles inside a
-- provider's span are rows with zero, so a trend needs no gap filling. Articles without a date
-- or a provider cannot be placed and are left out.

with articles as (
    select * from stg_article
),

providers as (
    select * from provider
),

placed as (
    select * from articles
    where articles.published_month is not null and articles.provider_id is not null
),

per_month as (
    select
        placed.provider_id,
        placed.published_month as month_start,
        count(*) as article_count,
        count(*) filter (where placed.is_published) as published_count,
        avg(placed.quality) as mean_quality
    from placed
    group by placed.provider_id, placed.published_month
),

month_totals as (
    select
        placed.published_month as month_start,
        count(*) as article_count
    from placed
    group by placed.published_month
),

spans as (
    select
        per_month.provider_id,
        min(per_month.month_start) as first_month,
        max(per_month.month_start) as last_month
    from per_month
    group by per_month.provider_id
),

calendar as (
    select
        spans.provider_id,
        unnest(
            generate_series(spans.first_month, spans.last_month, interval 1 month)
        )::date as month_start
    from spans
),

filled as (
    select
        calendar.provider_id,
        calendar.month_start,
        coalesce(per_month.article_count, 0) as article_count,
        coalesce(per_month.published_count, 0) as published_count,
        per_month.mean_quality,
        month_totals.article_count as month_article_count
    from calendar
    left join per_month
        on
            calendar.provider_id = per_month.provider_id
            and calendar.month_start = per_month.month_start
    left join month_totals on calendar.month_start = month_totals.month_start
),

final as (
    select
        filled.provider_id,
        providers.name as provider_name,
        filled.month_start,
        filled.article_count,
        filled.published_count,
        round(filled.mean_quality, 2) as mean_quality,
        -- NULL when no provider published that month: a share of nothing is undefined
        filled.article_count / filled.month_article_count as share_of_month,
        sum(filled.article_count) over (
            partition by filled.provider_id order by filled.month_start
        )::bigint as cumulative_article_count
    from filled
    inner join providers on filled.provider_id = providers.provider_id
)

select * from final
order by final.provider_name asc, final.month_start asc
