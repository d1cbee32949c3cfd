with

source as (

    select * from {{ source('platform', 'public_runs') }}

),

renamed as (

    select
        id as run_id,
        timestamp as started_at,
        status as run_status
    from source

)

select * from renamed
