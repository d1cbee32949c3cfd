{{ config(materialized='view') }}
-- A view: fct_calls is its only reader and inserts its rows once, so a table would write every
-- call of the window twice (a year of one organization at 5M calls: 0.7 s of a 3.6 s backfill).
-- One row per call in the refresh window: the run, its (deduplicated) session, the
-- organization's local report day and the outcome of the organization's broker node.
with

window_days as (

    select * from {{ ref('int_refresh_window') }}

),

organizations as (

    select * from {{ ref('stg_service__organizations') }}
    where org_id in (select org_id from window_days)

),

window_runs as (

    -- A call is a distinct run id; the window bounds are constants, so the primary key
    -- (timestamp, id) of the source limits the scan to the window. A window limited to some
    -- organizations only needs runs with a session of theirs (the sessions' primary key starts
    -- with org_id); which organization a run belongs to is still decided by its latest session.
    select
        run_id,
        min(started_at) as call_started_at
    from {{ ref('stg_platform__runs') }}
    where started_at >= (select min(day_start_utc) from window_days)
      and started_at < (select max(day_end_utc) from window_days)
      and {{ run_ids_in_range('run_id') }}
      {%- if validated_org_ids() %}
      and run_id in (
          select run_id from {{ source('platform', 'public_sessions') }}
          where org_id in (select org_id from organizations)
      )
      {%- endif %}
    group by run_id

),

runs as (

    -- The window's runs are read three times below (sessions, outcomes, the join) and ClickHouse
    -- evaluates a CTE again at each use: a scalar subquery is evaluated once per query, so the
    -- runs are collected into one array once and unfolded here (a year of one organization at
    -- 5M calls: 0.6 s less CPU).
    select
        window_run.1 as run_id,
        window_run.2 as call_started_at
    from (
        select arrayJoin((select groupArray((run_id, call_started_at)) from window_runs)) as window_run
    )

),

sessions as (

    select * from {{ ref('stg_platform__sessions') }}
    where {{ run_ids_in_range('run_id') }}
      and run_id in (select run_id from runs)

),

counted_calls as (

    select
        runs.run_id as run_id,
        runs.call_started_at as started_at,
        sessions.org_id as org_id,
        sessions.user_number as user_number,
        sessions.duration_seconds as duration_seconds,
        sessions.session_created_at as session_created_at,
        organizations.node_persistent_id as node_persistent_id
    from runs
    inner join sessions on sessions.run_id = runs.run_id
    inner join organizations on organizations.org_id = sessions.org_id
    where not has(organizations.excluded_numbers, sessions.user_number)

),

dated_calls as (

    -- The local day whose UTC bounds contain the call start (constant-timezone safe).
    select
        counted_calls.*,
        window_days.report_date as report_date
    from counted_calls
    asof inner join window_days
        on counted_calls.org_id = window_days.org_id
        and counted_calls.started_at >= window_days.day_start_utc
    where counted_calls.started_at < window_days.day_end_utc

),

outcomes as (

    -- Only the window organizations' broker nodes: node_persistent_id leads the source's primary
    -- key, and JSON is extracted for no other node's outputs. A full build's range of run ids is
    -- a range of that key (run_id follows the node): its slice reads only its part of the JSON.
    select * from {{ ref('stg_platform__node_outputs') }}
    where node_persistent_id in (select node_persistent_id from organizations)
      and {{ run_ids_in_range('run_id') }}
      and run_id in (select run_id from runs)

),

final as (

    select
        dated_calls.org_id as org_id,
        dated_calls.report_date as report_date,
        dated_calls.run_id as run_id,
        dated_calls.started_at as started_at,
        dated_calls.user_number as user_number,
        dated_calls.duration_seconds as duration_seconds,
        outcomes.output_id as output_id,
        outcomes.call_classification as call_classification,
        outcomes.call_stage as call_stage,
        outcomes.transfer_attempt as transfer_attempt,
        outcomes.transfer_reason as transfer_reason,
        ifNull(outcomes.transfer_success, false) as transfer_success,
        outcomes.load_status as load_status,
        outcomes.reference_number as reference_number,
        outcomes.carrier_qualification as carrier_qualification,
        outcomes.carrier_end_state as carrier_end_state,
        outcomes.carrier_name as carrier_name,
        outcomes.pricing_notes as pricing_notes,
        outcomes.agreed_upon_rate as agreed_upon_rate,
        -- The newest source row behind this call: the marts' watermark for late data. Never past
        -- this build: a row stamped ahead of the clock would lift the watermark above rows that
        -- arrive before that time and hide them for good.
        least(greatest(dated_calls.started_at, dated_calls.session_created_at,
                       ifNull(outcomes.output_created_at, dated_calls.started_at)), now64(3)) as loaded_at
    from dated_calls
    left join outcomes
        on outcomes.run_id = dated_calls.run_id
        and outcomes.node_persistent_id = dated_calls.node_persistent_id

)

select * from final
