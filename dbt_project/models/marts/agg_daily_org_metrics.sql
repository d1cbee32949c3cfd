{{
    config(
        order_by='(org_id, report_date)',
        partition_by='toYear(report_date)'
    )
}}
-- depends_on: {{ ref('agg_daily_org_breakdowns') }}
-- Built after the breakdowns: its loaded_at (with fct_calls') is the marts' watermark
-- (macros/refresh_window.sql), so it advances only once every mart of the window is rebuilt; a
-- run whose breakdowns fail skips this model, and the next run selects the same days again.
-- One row per organization and local day (days without calls included): every KPI's
-- numerator and denominator as unrounded sums, so any range of days adds up exactly.
with

window_days as (

    select * from {{ ref('int_refresh_window') }}

),

organizations as (

    select org_id, timezone from {{ ref('stg_service__organizations') }}

),

calls as (

    select * from {{ ref('fct_calls') }}
    where (org_id, report_date) in (select org_id, report_date from window_days)

),

daily as (

    select
        org_id,
        report_date,
        count() as total_calls,
        countIf(is_classified) as classified_calls,
        -- Summed exactly (as decimals), so the total never depends on the order rows are read in:
        -- a float sum can differ in its last digit between two builds of the same day.
        toFloat64(sum(toDecimal128(ifNull(duration_seconds, 0), 9))) as total_duration_seconds,
        countIf(is_success) as success_calls,
        countIf(is_carrier_not_qualified) as carrier_not_qualified_calls,
        countIf(is_non_convertible) as non_convertible_calls,
        countIf(is_non_convertible_or_not_qualified) as non_convertible_or_not_qualified_calls,
        countIf(is_carrier_asked_transfer) as carrier_asked_transfer_calls,
        countIf(is_transferred_for_booking) as transferred_for_booking_calls,
        max(loaded_at) as loaded_at
    from calls
    group by org_id, report_date

),

final as (

    select
        window_days.org_id as org_id,
        window_days.report_date as report_date,
        organizations.timezone as timezone,
        window_days.day_start_utc as day_start_utc,
        window_days.day_end_utc as day_end_utc,
        ifNull(daily.total_calls, 0) as total_calls,
        ifNull(daily.classified_calls, 0) as classified_calls,
        ifNull(daily.total_duration_seconds, 0) as total_duration_seconds,
        ifNull(daily.success_calls, 0) as success_calls,
        ifNull(daily.carrier_not_qualified_calls, 0) as carrier_not_qualified_calls,
        ifNull(daily.non_convertible_calls, 0) as non_convertible_calls,
        ifNull(daily.non_convertible_or_not_qualified_calls, 0) as non_convertible_or_not_qualified_calls,
        ifNull(daily.carrier_asked_transfer_calls, 0) as carrier_asked_transfer_calls,
        ifNull(daily.transferred_for_booking_calls, 0) as transferred_for_booking_calls,
        daily.loaded_at as loaded_at,
        now64(3) as refreshed_at
    from window_days
    left join daily
        on daily.org_id = window_days.org_id
        and daily.report_date = window_days.report_date
    left join organizations on organizations.org_id = window_days.org_id

)

select * from final
