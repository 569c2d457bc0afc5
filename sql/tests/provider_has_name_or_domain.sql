-- provider_has_name_or_domain: every provider can be shown by a name or a domain
-- The normalizer keys a provider by its domain, else by its name, and drops one with neither.

with providers as (
    select * from provider
),

final as (
    select
        providers.provider_id,
        providers.domain,
        providers.name
    from providers
    where providers.domain is null and providers.name is null
)

select * from final
