-- article_enriched_reconciles: article_enriched has every live article once, with true counts
-- The wide table is a materialized copy: a row missing, or a topic, image or related count that
-- disagrees with the normalized tables, means it was built from other data than is loaded.

with articles as (
    select * from article
),

enriched as (
    select * from article_enriched
),

article_topics as (
    select * from article_topic
),

images as (
    select * from image
),

related_entries as (
    select * from related
),

expected as (
    select
        articles.article_id,
        articles.source_path,
        (
            select count(*) from article_topics
            where article_topics.article_id = articles.article_id
        ) as topic_count,
        (
            select count(*) from images
            where images.article_id = articles.article_id and images.related_id is null
        ) as image_count,
        (
            select count(*) from related_entries
            where related_entries.article_id = articles.article_id
        ) as related_count
    from articles
    where articles.deleted_at is null
),

final as (
    select
        expected.article_id,
        expected.source_path,
        expected.topic_count,
        enriched.topic_count as enriched_topic_count,
        expected.image_count,
        enriched.image_count as enriched_image_count,
        expected.related_count,
        enriched.related_count as enriched_related_count
    from expected
    left join enriched on expected.article_id = enriched.article_id
    where
        enriched.article_id is null
        or expected.topic_count != enriched.topic_count
        or expected.image_count != enriched.image_count
        or expected.related_count != enriched.related_count
)

select * from final
