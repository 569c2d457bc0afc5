-- stg_article_topic: one row per topic of an article (article_id, topic_id)
-- Each article's topics with the topic's name and the article's week, provider and quality, the
-- shape that topic trends and co-occurrence counts start from.

with article_topics as (
    select * from article_topic
),

topics as (
    select * from topic
),

articles as (
    select * from stg_article
),

final as (
    select
        article_topics.article_id,
        article_topics.topic_id,
        topics.name as topic_name,
        article_topics.position,
        articles.provider_id,
        articles.quality,
        articles.is_published,
        articles.published_week,
        articles.published_iso_week
    from article_topics
    inner join topics on article_topics.topic_id = topics.topic_id
    inner join articles on article_topics.article_id = articles.article_id
)

select * from final
