-- list_positions_are_dense: list positions run 1..n without gaps or repeats
-- Topics, images and related entries keep their order from the front matter as 1-based
-- positions; a gap or a repeat means rows of a list were lost or merged on the way in.
-- One row per broken list (an article's topics or related entries, or the images of an
-- article or of one related entry).

with article_topics as (
    select * from article_topic
),

images as (
    select * from image
),

related_entries as (
    select * from related
),

articles as (
    select * from article
),

positions as (
    select
        'article_topic' as relation,
        article_topics.article_id,
        null as related_id,
        article_topics.position
    from article_topics
    union all
    select
        'image' as relation,
        images.article_id,
        images.related_id,
        images.position
    from images
    union all
    select
        'related' as relation,
        related_entries.article_id,
        null as related_id,
        related_entries.position
    from related_entries
),

lists as (
    select
        positions.relation,
        positions.article_id,
        positions.related_id,
        count(*) as item_count,
        min(positions.position) as first_position,
        max(positions.position) as last_position
    from positions
    group by positions.relation, positions.article_id, positions.related_id
),

-- n positions from 1 to n are exactly 1..n when none repeats: a plain grouping finds the
-- repeats faster than a distinct count per list would
repeated_positions as (
    select
        positions.relation,
        positions.article_id,
        positions.related_id,
        positions.position
    from positions
    group by
        positions.relation, positions.article_id, positions.related_id, positions.position
    having count(*) > 1
),

repeats as (
    select
        repeated_positions.relation,
        repeated_positions.article_id,
        repeated_positions.related_id
    from repeated_positions
    group by
        repeated_positions.relation,
        repeated_positions.article_id,
        repeated_positions.related_id
),

final as (
    select
        lists.relation,
        lists.article_id,
        lists.related_id,
        lists.item_count,
        lists.first_position,
        lists.last_position,
        articles.source_path
    from lists
    left join repeats
        on
            lists.relation = repeats.relation
            and lists.article_id = repeats.article_id
            and lists.related_id is not distinct from repeats.related_id
    left join articles on lists.article_id = articles.article_id
    where
        lists.first_position != 1
        or lists.last_position != lists.item_count
        or repeats.relation is not null
)

select * from final
