{#- parent_value: for an ethnic category the WRES group it belongs to (from the ethnic_category
    code list, as in fct_workforce_profile), for a WRES group its own value, otherwise NULL: the
    categories of each WRES group are declared to add up to it for secondary suppression. -#}
with profile as (

    select * from {{ ref('fct_workforce_profile') }}
    where dimension in ('gender', 'disability', 'ethnic_category', 'wres_group')

),

ethnicity as (

    select code, wres_group from {{ ref('ethnic_category') }}

)

select
    profile.period,
    profile.level,
    profile.org_code,
    profile.dimension,
    profile.dimension_value,
    case
        when profile.dimension = 'wres_group' then profile.dimension_value
        when profile.dimension = 'ethnic_category' then coalesce(ethnicity.wres_group, 'NOT_KNOWN')
    end as parent_value,
    profile.headcount,
    profile.share_of_headcount
from profile
left join ethnicity
    on profile.dimension = 'ethnic_category' and ethnicity.code = profile.dimension_value
