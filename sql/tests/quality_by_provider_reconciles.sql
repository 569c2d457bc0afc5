-- quality_by_provider_reconciles: quality_by_provider counts every article with a provider
-- The mart must neither drop nor double-count articles: its article counts add up to the live
-- articles that name a provider (one row when they differ).

with articles as (
    select * from article
),

quality as (
    select * from quality_by_provider
),

expected as (
    select count(*) as article_count
    from articles
    where articles.provider_id is not null and articles.deleted_at is null
),

reported as (
    select coalesce(sum(quality.article_count), 0) as article_count
    from quality
),

final as (
    select
        expected.article_count as expected_article_count,
        reported.article_count as reported_article_count
    from expected
    cross join reported
    where expected.article_count != reported.article_count
)

select * from final
