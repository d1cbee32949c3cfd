{{
    config(
        order_by='(org_id, report_date, run_id)'
    )
}}
-- Not partitioned (the day marts are, by year): a full build fills this mart in ranges of run ids
-- over every day, and a partition key would split each range's insert block by year, one more
-- copy of it (about 100 MB at 400k calls) once the history spans two years, so a slice's memory
-- would grow with the history. Reads are pruned by the primary key; nothing drops partitions.
-- depends_on: {{ ref('int_refresh_window') }} (the pre-hook deletes the window first)
-- One row per call with the flags every KPI counts. Business rules come from vars.
with

calls as (

    select * from {{ ref('int_calls') }}

),

flagged as (

    select
        *,
        call_classification is not null as is_classified,
        is_classified and call_classification = '{{ var("success_classification") }}' as is_success,
        is_classified and ifNull(carrier_qualification = '{{ var("not_qualified_value") }}', false)
            as is_carrier_not_qualified,
        is_classified
            and call_classification in ({{ quoted_list(var('non_convertible_classifications')) }})
            as has_non_convertible_classification,
        has_non_convertible_classification and not is_carrier_not_qualified as is_non_convertible,
        has_non_convertible_classification or is_carrier_not_qualified
            as is_non_convertible_or_not_qualified,
        is_classified and ifNull(transfer_reason = '{{ var("carrier_asked_transfer_reason") }}', false)
            as is_carrier_asked_transfer,
        is_classified and transfer_success as is_transferred_for_booking,
        now64(3) as refreshed_at
    from calls

)

select * from flagged
