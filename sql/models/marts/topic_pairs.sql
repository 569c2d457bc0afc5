-- topic_pairs: one row per pair of topics sharing an article (topic_a_id, topic_b_id)
-- materialized: table
-- Which topics are written about together, how often, and whether more often than chance:
-- lift = P(both) / (P(a) * P(b)) over the articles that have any topic, so 1 means
-- independent and above 1 means the pair goes together. Lift on a handful of articles is noisy:
-- filter on pair_article_count. In each pair topic_a sorts before topic_b by name.
-- Pairs grow with the square of an article's topics, so only an article's first 64 topics pair
-- up (docs/memory.md): a document listing thousands would otherwise make millions of pairs.

with article_topics as (
    select * from stg_article_topic
),

paired_topics as (
    select * from article_topics
    where article_topics.position <= 64
),

topic_articles as (
    select
        article_topics.topic_id,
        count(*) as article_count
    from article_topics
    group by article_topics.topic_id
),

tagged_articles as (
    select count(distinct article_topics.article_id) as article_count
    from article_topics
),

pairs as (
    select
        topic_a.topic_id as topic_a_id,
        any_value(topic_a.topic_name) as topic_a,
        topic_b.topic_id as topic_b_id,
        any_value(topic_b.topic_name) as topic_b,
        count(*) as pair_article_count
    from paired_topics as topic_a
    inner join paired_topics as topic_b
        on
            topic_a.article_id = topic_b.article_id
            and (topic_a.topic_name, topic_a.topic_id) < (topic_b.topic_name, topic_b.topic_id)
    group by topic_a.topic_id, topic_b.topic_id
),

final as (
    select
        pairs.topic_a_id,
        pairs.topic_a,
        pairs.topic_b_id,
        pairs.topic_b,
        pairs.pair_article_count,
        count_a.article_count as topic_a_article_count,
        count_b.article_count as topic_b_article_count,
        pairs.pair_article_count / tagged_articles.article_count as pair_share,
        pairs.pair_article_count * tagged_articles.article_count
        / (count_a.article_count * count_b.article_count) as lift
    from pairs
    inner join topic_articles as count_a on pairs.topic_a_id = count_a.topic_id
    inner join topic_articles as count_b on pairs.topic_b_id = count_b.topic_id
    cross join tagged_articles
)

select * from final
order by
    final.pair_article_count desc, final.lift desc, final.topic_a asc, final.topic_b asc
