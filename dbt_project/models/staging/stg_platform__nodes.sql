with

source as (

    select * from {{ source('platform', 'public_nodes') }}

),

renamed as (

    select
        id as node_id,
        persistent_id as node_persistent_id,
        org_id,
        name as node_name,
        type as node_type,
        created_at as node_created_at
    from source

)

select * from renamed
