-- article_not_published_in_the_future: no article is dated more than a day ahead
-- severity: warn
-- A date in the future is usually a wrong offset or a typo at the source. It is kept as given,
-- so this warns rather than fails the run; the day of slack covers time zones.

with articles as (
    select * from article
),

final as (
    select
        articles.article_id,
        articles.published_at,
        articles.source_path
    from articles
    where articles.published_at > now() + interval 1 day
)

select * from final
