{{
    config(
        order_by='(org_id, report_date, dimension)',
        partition_by='toYear(report_date)'
    )
}}
-- Classified calls per organization, local day, dimension and value (NULL = no value).
-- The dimensions are the var breakdown_dimensions, each a column of fct_calls.
with

window_days as (

    select * from {{ ref('int_refresh_window') }}

),

classified_calls as (

    select * from {{ ref('fct_calls') }}
    where is_classified
      and (org_id, report_date) in (select org_id, report_date from window_days)

),

unpivoted as (

    select
        org_id,
        report_date,
        loaded_at,
        dimension_value.1 as dimension,
        dimension_value.2 as value
    from classified_calls
    array join [
        {%- for dimension in var('breakdown_dimensions') %}
        ('{{ dimension }}', {{ adapter.quote(dimension) }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ] as dimension_value

),

final as (

    select
        org_id,
        report_date,
        toLowCardinality(dimension) as dimension,
        value,
        count() as call_count,
        max(loaded_at) as loaded_at,
        now64(3) as refreshed_at
    from unpivoted
    group by org_id, report_date, dimension, value

)

select * from final
