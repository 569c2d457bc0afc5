-- stg_article_image: one row per image of an article itself (image_id)
-- Images shown with the article, not those of its related entries (related_id is NULL), with
-- the article's provider so coverage can be measured per provider.

with images as (
    select * from image
),

articles as (
    select * from stg_article
),

own_images as (
    select * from images
    where images.related_id is null
),

final as (
    select
        own_images.image_id,
        own_images.article_id,
        articles.provider_id,
        own_images.position,
        own_images.url,
        own_images.width,
        own_images.height,
        own_images.is_cached
    from own_images
    inner join articles on own_images.article_id = articles.article_id
)

select * from final
