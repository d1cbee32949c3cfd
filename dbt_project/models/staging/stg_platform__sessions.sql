-- One session per run: sessions are deduplicated by id, and when a run still has several the
-- latest created_at wins (tie: highest id). argMax over (created_at, id) does both at once.
with

source as (

    select * from {{ source('platform', 'public_sessions') }}

),

renamed as (

    select
        run_id,
        argMax(id, (created_at, id)) as session_id,
        argMax(org_id, (created_at, id)) as org_id,
        argMax(user_number, (created_at, id)) as user_number,
        argMax(duration, (created_at, id)) as duration_seconds,
        max(created_at) as session_created_at
    from source
    group by run_id

)

select * from renamed
