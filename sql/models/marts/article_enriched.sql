-- article_enriched: one row per article (article_id)
-- materialized: table
-- One wide row per live article for notebooks: the article with its provider's name and domain,
-- its topics in their listed order, how many images and related entries it has, how many of
-- those entries are loaded articles, and how often other loaded articles cite it as related.

with articles as (
    select * from stg_article
),

providers as (
    select * from provider
),

article_topics as (
    select * from stg_article_topic
),

images as (
    select * from stg_article_image
),

related_entries as (
    select * from related
),

loaded_articles as (
    select * from stg_article
),

topic_lists as (
    select
        article_topics.article_id,
        count(*) as topic_count,
        list(article_topics.topic_name order by article_topics.position) as topics
    from article_topics
    group by article_topics.article_id
),

image_counts as (
    select
        images.article_id,
        count(*) as image_count,
        count(*) filter (where images.is_cached) as cached_image_count
    from images
    group by images.article_id
),

related_counts as (
    select
        related_entries.article_id,
        count(*) as related_count,
        count(loaded_articles.article_id) as related_in_warehouse_count
    from related_entries
    left join loaded_articles
        on related_entries.related_article_id = loaded_articles.article_id
    group by related_entries.article_id
),

cited_by as (
    select
        related_entries.related_article_id as article_id,
        count(*) as cited_by_count
    from related_entries
    where related_entries.related_article_id != related_entries.article_id
    group by related_entries.related_article_id
),

final as (
    select
        articles.article_id,
        articles.title,
        articles.published_at,
        articles.provider_id,
        providers.name as provider_name,
        providers.domain as provider_domain,
        articles.category,
        articles.type,
        articles.quality,
        articles.heat,
        articles.is_published,
        coalesce(topic_lists.topic_count, 0) as topic_count,
        coalesce(topic_lists.topics, []) as topics,
        coalesce(image_counts.image_count, 0) as image_count,
        coalesce(image_counts.cached_image_count, 0) as cached_image_count,
        coalesce(related_counts.related_count, 0) as related_count,
        coalesce(related_counts.related_in_warehouse_count, 0) as related_in_warehouse_count,
        coalesce(cited_by.cited_by_count, 0) as cited_by_count,
        articles.canonical_url,
        articles.source_path
    from articles
    left join providers on articles.provider_id = providers.provider_id
    left join topic_lists on articles.article_id = topic_lists.article_id
    left join image_counts on articles.article_id = image_counts.article_id
    left join related_counts on articles.article_id = related_counts.article_id
    left join cited_by on articles.article_id = cited_by.article_id
)

select * from final
order by final.published_at, final.article_id
