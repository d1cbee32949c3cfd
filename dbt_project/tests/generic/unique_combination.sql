{% test unique_combination(model, columns) %}
{#- No two rows share the same values in `columns` (a composite key). -#}
select {{ columns | join(', ') }}, count() as duplicates
from {{ model }}
group by {{ columns | join(', ') }}
having duplicates > 1
{% endtest %}
