-- image_coverage: one row per provider with at least one article (provider_id)
-- materialized: table
-- How well each provider's articles are illustrated: the share of articles with at least one
-- image of their own, images per article, the share of those images cached, and their typical
-- (median) size. Images of related entries are not counted here.

with articles as (
    select * from stg_article
),

images as (
    select * from stg_article_image
),

providers as (
    select * from provider
),

per_article as (
    select
        articles.article_id,
        articles.provider_id,
        count(images.image_id) as image_count
    from articles
    left join images on articles.article_id = images.article_id
    where articles.provider_id is not null
    group by articles.article_id, articles.provider_id
),

article_coverage as (
    select
        per_article.provider_id,
        count(*) as article_count,
        count(*) filter (where per_article.image_count > 0) as articles_with_images,
        sum(per_article.image_count)::bigint as image_count
    from per_article
    group by per_article.provider_id
),

image_sizes as (
    select
        images.provider_id,
        count(*) filter (where images.is_cached) as cached_image_count,
        -- share among images that say whether they are cached
        avg(images.is_cached::integer) as cached_share,
        median(images.width) as median_width,
        median(images.height) as median_height
    from images
    group by images.provider_id
),

final as (
    select
        article_coverage.provider_id,
        providers.name as provider_name,
        article_coverage.article_count,
        article_coverage.articles_with_images,
        article_coverage.articles_with_images / article_coverage.article_count as image_share,
        article_coverage.image_count,
        round(article_coverage.image_count / article_coverage.article_count, 2)
            as images_per_article,
        coalesce(image_sizes.cached_image_count, 0) as cached_image_count,
        image_sizes.cached_share,
        image_sizes.median_width,
        image_sizes.median_height
    from article_coverage
    inner join providers on article_coverage.provider_id = providers.provider_id
    left join image_sizes on article_coverage.provider_id = image_sizes.provider_id
)

select * from final
order by final.article_count desc, final.provider_name asc
