{{
    config(
        materialized='incremental',
        order_by='(org_id, report_date, kpi)',
        rebuild_days_after=7 * (int_var('anomaly_baseline_weeks', 1) | int)
    )
}}
-- Each rate KPI of each organization-day against its baseline: the same weekday of the trailing
-- anomaly_baseline_weeks weeks (local dates: a 23- or 25-hour DST day is just another row).
-- Always in agreement with the daily mart: a rebuilt day changes its own row and the baselines of
-- the weeks after it, so a run given a window (a backfill) rebuilds the window's organizations
-- from its first day to anomaly_baseline_weeks weeks after its last (config rebuild_days_after,
-- macros/refresh_window.sql), reading the weeks before them; any other run (the watermark's days,
-- a changed rule) rebuilds every row, and a full refresh builds the table anew. Not a view:
-- ClickHouse computes the window functions before a reader's organization filter, so each report
-- read would score every organization's history (90 ms at 5M calls); the table is one
-- primary-key lookup.
{%- set rate_kpis = report_rate_kpis() %}
{%- set weeks = int_var('anomaly_baseline_weeks', 1) | int %}
{%- set min_calls = int_var('anomaly_min_calls', 0) %}
{%- set min_baseline_days = int_var('anomaly_min_baseline_days', 1) %}
{%- set z_threshold = var('anomaly_z_threshold') | float %}
{%- set min_change_percent = var('anomaly_min_change_percent') | float %}
{%- set days_after = config.get('rebuild_days_after') %}
{#- Unit tests build from fixtures, never a window (and cannot ask is_incremental()). #}
{%- set rebuilds_window = refresh_window_is_set() and model.resource_type != 'unit_test' and is_incremental() %}
with

metrics as (

    select * from {{ ref('agg_daily_org_metrics') }}
    {%- if rebuilds_window %}
    -- The rebuilt days and the weeks before them, which their baselines read.
    where {{ refresh_window_rows(days_before=weeks * 7, days_after=days_after) }}
    {%- endif %}

),

-- Long format: one row per organization, day and rate KPI. `calls` is the KPI's denominator.
kpi_days as (
    {% for kpi in rate_kpis %}
    select
        org_id,
        report_date,
        '{{ kpi_identifier(kpi.get("key"), "key") }}' as kpi,
        toNullable(toFloat64({{ kpi_headline_value(kpi) }})) as value,
        toUInt64({{ kpi.get('denominator') }}) as calls,
        {{ kpi_is_share(kpi) }} as is_share
    from metrics
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

-- Baseline days: the same weekday in the trailing weeks (by date, so a missing row cannot
-- stretch the window), only days whose rate rests on at least anomaly_min_calls calls.
-- Zero-call and under-min days are left out: their rate is undefined or noise.
baseline_values as (

    select
        *,
        groupArrayIf(value, value is not null and calls >= {{ min_calls }}) over same_weekdays as baseline
    from kpi_days
    window same_weekdays as (
        partition by org_id, kpi, toDayOfWeek(report_date)
        order by report_date
        range between {{ weeks * 7 }} preceding and 1 preceding
    )

),

baselines as (

    select
        *,
        arraySort(baseline) as sorted_baseline,
        length(baseline) as baseline_days,
        if(baseline_days > 0, {{ sorted_median('sorted_baseline', 'baseline_days') }}, NULL) as baseline_median,
        arraySort(arrayMap(v -> abs(v - ifNull(baseline_median, 0)), baseline)) as deviations,
        if(baseline_days > 0, {{ sorted_median('deviations', 'baseline_days') }}, NULL) as baseline_mad,
        if(baseline_days > 0, arrayAvg(deviations), NULL) as baseline_mean_deviation
    from baseline_values

),

-- Robust z-score |x - median| / scale. The scale is 1.4826 * MAD (1.4826 makes the MAD estimate a
-- normal standard deviation); when MAD is 0 (half the baseline days or more equal the median),
-- 1.253314 * the mean absolute deviation (the modified z-score's rule). A share (a percentage of
-- the day's calls) is never scaled below its own sampling error, 100 * sqrt(p (1 - p) / calls)
-- with p the baseline median: eight Mondays that happen to agree closely must not turn ordinary
-- binomial noise into an anomaly (p is kept within [1/calls, 1 - 1/calls], so a 0 % baseline
-- still has a noise floor). When the scale is 0 (a constant baseline of a non-share KPI), z is
-- NULL: unbounded, the day differs from a flat series. A day equal to the median scores 0.
scored as (

    select
        *,
        least(greatest(ifNull(baseline_median, 0) / 100, 1 / greatest(calls, 1)), 1 - 1 / greatest(calls, 1)) as share_p,
        if(is_share and calls > 0, 100 * sqrt(greatest(share_p * (1 - share_p), 0) / calls), 0) as sampling_error,
        greatest(
            multiIf(
                baseline_mad > 0, 1.4826 * baseline_mad,
                baseline_mean_deviation > 0, 1.253314 * baseline_mean_deviation,
                0
            ),
            sampling_error
        ) as scale,
        multiIf(
            value is null or baseline_median is null, NULL,
            value = baseline_median, 0,
            scale > 0, abs(value - baseline_median) / scale,
            NULL
        ) as z
    from baselines

),

final as (

    select
        org_id,
        report_date,
        kpi,
        value,
        calls,
        baseline_median,
        baseline_mad,
        toUInt32(baseline_days) as baseline_days,
        z,
        toBool(ifNull(
            value is not null
            and calls >= {{ min_calls }}
            and baseline_days >= {{ min_baseline_days }}
            and value != baseline_median
            and (z is null or z > {{ z_threshold }})
            -- and a change that matters: at least anomaly_min_change_percent of the median
            and abs(value - baseline_median) >= {{ min_change_percent }} / 100 * abs(baseline_median),
            false
        )) as is_anomaly,
        multiIf(value > baseline_median, 'up', value < baseline_median, 'down', NULL) as direction
    from scored
    {%- if rebuilds_window %}
    where {{ refresh_window_rows(days_after=days_after) }}
    {%- endif %}

)

select * from final
