-- related_citations: one row per citing and cited provider (citing_provider_id, cited_provider_id)
-- materialized: table
-- Which providers are shown as related by which, how often, by how many articles, and how often
-- the related article is itself loaded in the warehouse (a coverage gap where it is not; live
-- articles only). A provider citing itself is flagged. Either provider is NULL where the article
-- or the related entry names none.

with related_entries as (
    select * from related
),

articles as (
    select * from stg_article
),

providers as (
    select * from provider
),

citations as (
    select
        articles.provider_id as citing_provider_id,
        related_entries.provider_id as cited_provider_id,
        related_entries.article_id as citing_article_id,
        loaded.article_id is not null as is_in_warehouse
    from related_entries
    inner join articles on related_entries.article_id = articles.article_id
    left join articles as loaded on related_entries.related_article_id = loaded.article_id
),

per_pair as (
    select
        citations.citing_provider_id,
        citations.cited_provider_id,
        count(*) as citation_count,
        count(distinct citations.citing_article_id) as citing_article_count,
        count(*) filter (where citations.is_in_warehouse) as in_warehouse_count
    from citations
    group by citations.citing_provider_id, citations.cited_provider_id
),

final as (
    select
        per_pair.citing_provider_id,
        citing.name as citing_provider_name,
        per_pair.cited_provider_id,
        cited.name as cited_provider_name,
        per_pair.citing_provider_id = per_pair.cited_provider_id as is_self_citation,
        per_pair.citation_count,
        per_pair.citing_article_count,
        per_pair.in_warehouse_count,
        per_pair.in_warehouse_count / per_pair.citation_count as in_warehouse_share
    from per_pair
    left join providers as citing on per_pair.citing_provider_id = citing.provider_id
    left join providers as cited on per_pair.cited_provider_id = cited.provider_id
)

select * from final
order by
    final.citation_count desc,
    final.citing_provider_name asc nulls last,
    final.cited_provider_name asc nulls last
