{#- Outcome fields live under `result` in flat_data. A missing key, JSON null, a non-string value,
    an empty string or malformed JSON all give NULL ("no value"); strings are kept as they are. -#}
{% macro json_string(column, section, key) -%}
    if(
        JSONType({{ column }}, 'result', '{{ section }}', '{{ key }}') = 'String',
        nullIf(JSONExtractString({{ column }}, 'result', '{{ section }}', '{{ key }}'), ''),
        NULL
    )
{%- endmacro %}

{#- transfer_success is the one interpreted field: JSON true, or the string true/yes in any case. -#}
{% macro json_truthy(column, section, key) -%}
    toBool(
        (JSONType({{ column }}, 'result', '{{ section }}', '{{ key }}') = 'Bool'
            and JSONExtractBool({{ column }}, 'result', '{{ section }}', '{{ key }}'))
        or ifNull(lower({{ json_string(column, section, key) }})
            in ({{ quoted_list(var('transfer_success_true_strings')) }}), false)
    )
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
