-- One session per run: sessions are deduplicated by id, and when a run still has several the
-- latest created_at wins (tie: highest id). argMax over (created_at, id) does both at once;
-- the session is taken as one tuple because argMax skips NULL values (NULL durations count).
with

source as (

    select * from {{ source('platform', 'public_sessions') }}

),

deduplicated as (

    select
        run_id,
        argMax((id, org_id, user_number, duration, created_at), (created_at, id)) as latest_session
    from source
    group by run_id

),

renamed as (

    select
        run_id,
        latest_session.1 as session_id,
        latest_session.2 as org_id,
        latest_session.3 as user_number,
        latest_session.4 as duration_seconds,
        latest_session.5 as session_created_at
    from deduplicated

)

select * from renamed
