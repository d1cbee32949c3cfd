with

source as (

    select * from {{ source('service', 'organizations') }}

),

renamed as (

    select
        org_id,
        name as org_name,
        node_persistent_id,
        timezone,
        excluded_numbers,
        is_active
    from source

)

select * from renamed
