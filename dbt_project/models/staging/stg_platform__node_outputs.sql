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

sections as (

    -- One parse of flat_data per outcome section (macros/json_fields.sql).
    select
        *,
        {{ json_members('flat_data', 'call') }} as call_members,
        {{ json_members('flat_data', 'transfer') }} as transfer_members,
        {{ json_members('flat_data', 'load') }} as load_members,
        {{ json_members('flat_data', 'carrier') }} as carrier_members,
        {{ json_members('flat_data', 'pricing') }} as pricing_members
    from latest

),

renamed as (

    select
        run_id,
        node_persistent_id,
        output_id,
        output_created_at,
        {{ json_string('call_members', 'call_classification') }} as call_classification,
        {{ json_string('call_members', 'call_stage') }} as call_stage,
        {{ json_string('transfer_members', 'transfer_attempt') }} as transfer_attempt,
        {{ json_string('transfer_members', 'transfer_reason') }} as transfer_reason,
        {{ json_truthy('transfer_members', 'transfer_success') }} as transfer_success,
        {{ json_string('load_members', 'load_status') }} as load_status,
        {{ json_string('load_members', 'reference_number') }} as reference_number,
        {{ json_string('carrier_members', 'carrier_qualification') }} as carrier_qualification,
        {{ json_string('carrier_members', 'carrier_end_state') }} as carrier_end_state,
        {{ json_string('carrier_members', 'carrier_name') }} as carrier_name,
        {{ json_string('pricing_members', 'pricing_notes') }} as pricing_notes,
        {{ json_number('pricing_members', 'agreed_upon_rate') }} as agreed_upon_rate
    from sections

)

select * from renamed
