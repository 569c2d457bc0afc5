-- topic_trends: one row per topic and ISO week with articles on it (topic_id, week_start)
-- materialized: table
-- How much is written about each topic week by week (weeks start on Monday, in UTC) and how
-- good it is: articles, mean quality, and the topic's share of all articles of that week.
-- Weeks without articles on a topic have no row; undated articles are left out.

with article_topics as (
    select * from stg_article_topic
),

articles as (
    select * from stg_article
),

weekly_totals as (
    select
        articles.published_week as week_start,
        count(*) as article_count
    from articles
    where articles.published_week is not null
    group by articles.published_week
),

per_topic_week as (
    select
        article_topics.topic_id,
        any_value(article_topics.topic_name) as topic_name,
        article_topics.published_week as week_start,
        any_value(article_topics.published_iso_week) as iso_week,
        count(*) as article_count,
        count(article_topics.quality) as rated_article_count,
        avg(article_topics.quality) as mean_quality
    from article_topics
    where article_topics.published_week is not null
    group by article_topics.topic_id, article_topics.published_week
),

final as (
    select
        per_topic_week.topic_id,
        per_topic_week.topic_name,
        per_topic_week.iso_week,
        per_topic_week.week_start,
        per_topic_week.article_count,
        per_topic_week.rated_article_count,
        round(per_topic_week.mean_quality, 2) as mean_quality,
        per_topic_week.article_count / weekly_totals.article_count as share_of_week
    from per_topic_week
    inner join weekly_totals on per_topic_week.week_start = weekly_totals.week_start
)

select * from final
order by final.week_start asc, final.article_count desc, final.topic_name asc
