{#- The catalogue's rate KPIs: the entries of meta.report_kpis (agg_daily_org_metrics in
    models/marts/_marts.yml) that have a denominator. Read from the graph at execution, so the
    baselines model names no KPI itself; an empty list at parse time (no graph yet). -#}
{% macro report_rate_kpis() %}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.package_name == project_name and node.name == 'agg_daily_org_metrics' -%}
            {%- set meta = node.config.meta or node.meta or {} -%}
            {%- for kpi in meta.get('report_kpis') or [] -%}
                {%- if kpi.get('denominator') -%}{%- do found.append(kpi) -%}{%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error("meta.report_kpis of agg_daily_org_metrics declares no KPI with a denominator") }}
    {%- endif -%}
    {{ return(found) }}
{% endmacro %}

{#- A column or KPI name from the catalogue, checked before it is written into SQL. -#}
{% macro kpi_identifier(value, what) -%}
    {%- if value is not string or not modules.re.match('^[a-z][a-z0-9_]*$', value) -%}
        {{ exceptions.raise_compiler_error("Invalid " ~ what ~ " in meta.report_kpis: " ~ value) }}
    {%- endif -%}
    {{ value }}
{%- endmacro %}

{% macro kpi_number(value, what) -%}
    {%- if value is string or value is boolean or value is not number or value <= 0 -%}
        {{ exceptions.raise_compiler_error("Invalid " ~ what ~ " in meta.report_kpis: " ~ value) }}
    {%- endif -%}
    {{ value }}
{%- endmacro %}

{#- A rate KPI's headline value (the number reports, comparisons and anomalies use), NULL when the
    denominator is 0. The same operations in the same order as Kpi.headline_value in
    service/reports/catalog.py, so both give identical floats: a nested {count, denominator,
    percentage} KPI is its percentage, any other is numerator * multiply_by / divide_by / denominator. -#}
{% macro kpi_headline_value(kpi) -%}
    {%- set numerator = kpi_identifier(kpi.get('numerator'), 'numerator') -%}
    {%- set denominator = kpi_identifier(kpi.get('denominator'), 'denominator') -%}
    {%- if kpi.get('object_keys') -%}
    if({{ denominator }} > 0, 100 * {{ numerator }} / {{ denominator }}, NULL)
    {%- else -%}
    if({{ denominator }} > 0, {{ numerator }} * {{ kpi_number(kpi.get('multiply_by', 1), 'multiply_by') }} / {{ kpi_number(kpi.get('divide_by', 1), 'divide_by') }} / {{ denominator }}, NULL)
    {%- endif -%}
{%- endmacro %}

{#- Whether a rate KPI is a share of its denominator's calls (a percentage: nested
    {count, denominator, percentage}, or numerator * 100 / denominator), whose day-to-day noise is
    binomial. Any other rate (minutes per call) has no sampling error known to the marts. -#}
{% macro kpi_is_share(kpi) -%}
    {%- if kpi.get('object_keys') or (kpi.get('multiply_by', 1) == 100 and kpi.get('divide_by', 1) == 1) -%}
    true
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}

{#- An integer var of the anomaly rules, checked (a wrong type would silently change the SQL). -#}
{% macro int_var(name, minimum) -%}
    {%- set value = var(name) -%}
    {%- if value is string or value is boolean or value is not number or value != value | int or value < minimum -%}
        {{ exceptions.raise_compiler_error("Var " ~ name ~ " must be an integer >= " ~ minimum ~ ", got: " ~ value) }}
    {%- endif -%}
    {{ value | int }}
{%- endmacro %}

{#- The median of a sorted, non-empty array of `n` values: the middle one, or the mean of the two
    middle ones ((a + b) / 2, exactly as statistics.median). Plain indexing is about twice as fast
    as arrayReduce('quantileExact...') per row. -#}
{% macro sorted_median(sorted_array, n) -%}
    if({{ n }} % 2 = 1,
        {{ sorted_array }}[intDiv({{ n }} + 1, 2)],
        ({{ sorted_array }}[intDiv({{ n }}, 2)] + {{ sorted_array }}[intDiv({{ n }}, 2) + 1]) / 2)
{%- endmacro %}
