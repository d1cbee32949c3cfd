with

source as (

    select * from {{ source('service', 'organization_days') }}

),

renamed as (

    select
        org_id,
        report_date,
        day_start_utc,
        day_end_utc
    from source

)

select * from renamed
