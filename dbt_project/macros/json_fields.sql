{#- Outcome fields live under `result.<section>` in flat_data. json_members() parses flat_data once
    per section and returns the section's members as (key, raw JSON value) pairs: none when the
    section is missing or not an object, or the JSON is malformed. The field macros below read one
    member from them (a few tiny parses of the raw value) instead of parsing the whole document
    twice per field. -#}
{% macro json_members(column, section) -%}
    JSONExtractKeysAndValuesRaw({{ column }}, 'result', '{{ section }}')
{%- endmacro %}

{#- A member's raw JSON value: '' when the key is missing; the first one when it is repeated (as a
    JSON path lookup does). -#}
{% macro json_member(members, key) -%}
    arrayFirst(member -> member.1 = '{{ key }}', {{ members }}).2
{%- endmacro %}

{#- A missing key, JSON null, a non-string value, an empty string or malformed JSON all give NULL
    ("no value"); strings are kept as they are. A raw value is a JSON string exactly when it starts
    with a double quote. -#}
{% macro json_string(members, key) -%}
    if(
        startsWith({{ json_member(members, key) }}, '"'),
        nullIf(JSONExtractString({{ json_member(members, key) }}), ''),
        NULL
    )
{%- endmacro %}

{#- transfer_success is the one interpreted field: JSON true, or the string true/yes in any case. -#}
{% macro json_truthy(members, key) -%}
    toBool(
        {{ json_member(members, key) }} = 'true'
        or ifNull(lower({{ json_string(members, key) }})
            in ({{ quoted_list(var('transfer_success_true_strings')) }}), false)
    )
{%- endmacro %}

{#- A number (a numeric string too, as JSONExtract reads it); NULL when absent or not numeric. -#}
{% macro json_number(members, key) -%}
    JSONExtract({{ json_member(members, key) }}, 'Nullable(Float64)')
{%- endmacro %}

{#- A comma-separated list of SQL string literals for values that come from vars. -#}
{% macro quoted_list(values) -%}
    {%- for value in values -%}
        {%- if value is not string or "'" in value or "\\" in value -%}
            {{ exceptions.raise_compiler_error("Invalid value in a list var: " ~ value) }}
        {%- endif -%}
        '{{ value }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}
