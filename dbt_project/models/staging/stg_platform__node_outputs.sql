-- The latest output of each node for each run, with the outcome fields extracted once.
-- The latest output wins even when its JSON is malformed (then every field has no value).
with

source as (

    select * from {{ source('platform', 'public_node_outputs') }}

),

latest as (

    select
        run_id,
        node_persistent_id,
        argMax(id, (created_at, id)) as output_id,
        argMax(flat_data, (created_at, id)) as flat_data,
        max(created_at) as output_created_at
    from source
    group by run_id, node_persistent_id

),

renamed as (

    select
        run_id,
        node_persistent_id,
        output_id,
        output_created_at,
        {{ json_string('flat_data', 'call', 'call_classification') }} as call_classification,
        {{ json_string('flat_data', 'call', 'call_stage') }} as call_stage,
        {{ json_string('flat_data', 'transfer', 'transfer_attempt') }} as transfer_attempt,
        {{ json_string('flat_data', 'transfer', 'transfer_reason') }} as transfer_reason,
        {{ json_truthy('flat_data', 'transfer', 'transfer_success') }} as transfer_success,
        {{ json_string('flat_data', 'load', 'load_status') }} as load_status,
        {{ json_string('flat_data', 'load', 'reference_number') }} as reference_number,
        {{ json_string('flat_data', 'carrier', 'carrier_qualification') }} as carrier_qualification,
        {{ json_string('flat_data', 'carrier', 'carrier_end_state') }} as carrier_end_state,
        {{ json_string('flat_data', 'carrier', 'carrier_name') }} as carrier_name,
        {{ json_string('flat_data', 'pricing', 'pricing_notes') }} as pricing_notes,
        JSONExtract(flat_data, 'result', 'pricing', 'agreed_upon_rate', 'Nullable(Float64)') as agreed_upon_rate
    from latest

)

select * from renamed
