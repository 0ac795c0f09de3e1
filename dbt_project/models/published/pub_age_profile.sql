{#- parent_value: the aged_55_and_over value a row adds up to (an age band's, from the age_band
    code list as in fct_workforce_profile; an aged_55_and_over row's own), so the bands of each
    group can be declared to add up to it for secondary suppression. -#}
with profile as (

    select * from {{ ref('fct_workforce_profile') }}
    where dimension in ('age_band', 'aged_55_and_over')

),

bands as (

    select code, min_age from {{ ref('age_band') }}

)

select
    profile.period,
    profile.level,
    profile.org_code,
    profile.dimension,
    profile.dimension_value,
    case
        when profile.dimension = 'aged_55_and_over' then profile.dimension_value
        when bands.min_age >= 55 then 'Y'
        when bands.min_age is null then 'NOT_RECORDED'
        else 'N'
    end as parent_value,
    profile.headcount,
    profile.share_of_headcount
from profile
left join bands on profile.dimension = 'age_band' and bands.code = profile.dimension_value
