-- depends_on: {{ ref('stg_platform__runs') }} {{ ref('stg_service__organizations') }} (read by the watermark macro)
-- The organization days this run (re)builds: each organization's local days selected by the
-- refresh vars or the watermark (macros/refresh_window.sql), with their UTC bounds.
with

days as (

    select * from {{ ref('stg_service__organization_days') }}

),

windowed as (

    select
        org_id,
        report_date,
        day_start_utc,
        day_end_utc
    from days
    where {{ refresh_window_condition() }}

)

select * from windowed
