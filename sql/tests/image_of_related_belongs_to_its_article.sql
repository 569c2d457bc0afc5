-- image_of_related_belongs_to_its_article: a related entry's image has that entry's article
-- image.article_id is denormalized for speed; it must agree with the article of the related
-- entry the image belongs to, or per-article image counts go wrong.

with images as (
    select * from image
),

related_entries as (
    select * from related
),

articles as (
    select * from article
),

final as (
    select
        images.image_id,
        images.article_id,
        images.related_id,
        related_entries.article_id as related_article_of_entry,
        articles.source_path
    from images
    inner join related_entries on images.related_id = related_entries.related_id
    left join articles on images.article_id = articles.article_id
    where images.article_id != related_entries.article_id
)

select * from final
