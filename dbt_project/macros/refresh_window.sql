{#- Which organization days a run (re)builds. Vars (all optional):
      refresh_start_date / refresh_end_date  local dates, inclusive (backfill, late data)
      refresh_org_ids                        limit to these organizations (all their days when no dates)
    Without them: every day on a first build or --full-refresh; otherwise the watermark decides.
    The service passes the window in environment variables instead (DBT_REFRESH_START_DATE,
    DBT_REFRESH_END_DATE, DBT_REFRESH_ORG_IDS comma-separated): a changed var makes dbt re-parse
    the whole project, a changed environment variable only the files that read it. A var set on
    the command line wins.
    A full build's calls run in ranges of run ids (DBT_REFRESH_RUN_ID_FROM / DBT_REFRESH_RUN_ID_BEFORE,
    set by the service only, see refresh_run_ids below) over every day. -#}

{#- The marts whose newest loaded_at is the watermark: those that hold every call (service/jobs/
    refresh.py MART_TABLES names the same). Not agg_daily_org_breakdowns: it holds classified calls
    only, so after a newer unclassified call its newest row would hold the watermark back and select
    that call's day (and run dbt) at every refresh; agg_daily_org_metrics is built after it. -#}
{% macro mart_relations() %}
    {%- set relations = [] -%}
    {%- for name in ['fct_calls', 'agg_daily_org_metrics'] -%}
        {%- do relations.append(adapter.get_relation(database=this.database, schema=this.schema, identifier=name)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{% endmacro %}

{% macro validated_date(name) %}
    {%- set value = var(name) or env_var('DBT_' ~ name | upper, '') -%}
    {%- if value is none or value == '' -%}{{ return(none) }}{%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        {{ exceptions.raise_compiler_error("Var " ~ name ~ " must be a date YYYY-MM-DD, got: " ~ value) }}
    {%- endif -%}
    {{ return(value | string) }}
{% endmacro %}

{% macro validated_org_ids() %}
    {%- set org_ids = var('refresh_org_ids') or env_var('DBT_REFRESH_ORG_IDS', '') or [] -%}
    {%- if org_ids is string -%}{%- set org_ids = org_ids.split(',') -%}{%- endif -%}
    {%- for org_id in org_ids -%}
        {%- if not modules.re.match('^[A-Za-z0-9._:-]{1,128}$', org_id) -%}
            {{ exceptions.raise_compiler_error("Invalid org id in refresh_org_ids: " ~ org_id) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(org_ids) }}
{% endmacro %}

{#- The earliest call start touched by source rows newer than the marts' watermark, looking back
    at most max_output_lateness_hours. NULL when nothing new arrived. Only the organizations'
    broker nodes' outputs count: another node's output never reaches a mart, so it never lifts the
    watermark and would select its day again at every refresh. -#}
{% macro touched_since_watermark(relations) %}
    (
        with
            -- Never past now: source clocks can run ahead, and a future watermark would hide rows.
            least({% for relation in relations %}(select max(loaded_at) from {{ relation }}), {% endfor %}now64(3)) as watermark
        select minOrNull(started_at)
        from {{ ref('stg_platform__runs') }}
        where started_at >= watermark - toIntervalHour({{ var('max_output_lateness_hours') | int }})
          and (
              started_at > watermark
              or run_id in (select run_id from {{ source('platform', 'public_sessions') }} where created_at > watermark)
              or run_id in (
                  select run_id from {{ source('platform', 'public_node_outputs') }}
                  where node_persistent_id in (select node_persistent_id from {{ ref('stg_service__organizations') }})
                    and created_at > watermark
              )
          )
    )
{% endmacro %}

{% macro refresh_window_condition() %}
    {%- set start_date = validated_date('refresh_start_date') -%}
    {%- set end_date = validated_date('refresh_end_date') -%}
    {%- set org_ids = validated_org_ids() -%}
    {%- set relations = mart_relations() -%}
    day_start_utc <= now64(3)
    {%- if org_ids %}
    and org_id in ({{ quoted_list(org_ids) }})
    {%- endif %}
    {%- if start_date or end_date %}
    and report_date between toDate('{{ start_date or end_date }}') and toDate('{{ end_date or start_date }}')
    {%- elif not org_ids and not flags.FULL_REFRESH and not refresh_run_ids() and none not in relations and execute %}
    and day_end_utc > {{ touched_since_watermark(relations) }}
    {%- endif %}
{% endmacro %}

{#- The range of run ids [from, before) a full build's slice of calls covers, or none. The service
    cuts a full build's calls by run id (service/core/dbt_runner.py): the broker outputs are
    ordered by (node, run id), so a range of run ids reads only its part of their JSON, where a
    range of days reads all of it (its runs are spread over the whole table). Either bound may be
    empty (the first and the last range); the order is ClickHouse's order of UUIDs. -#}
{% macro refresh_run_ids() %}
    {%- set bounds = [] -%}
    {%- for name in ['DBT_REFRESH_RUN_ID_FROM', 'DBT_REFRESH_RUN_ID_BEFORE'] -%}
        {%- set value = env_var(name, '') -%}
        {%- if value and not modules.re.match('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', value) -%}
            {{ exceptions.raise_compiler_error(name ~ " must be a UUID, got: " ~ value) }}
        {%- endif -%}
        {%- do bounds.append(value or none) -%}
    {%- endfor -%}
    {{ return(bounds if bounds[0] or bounds[1] else none) }}
{% endmacro %}

{#- `column` within this run's range of run ids (true when it has none). -#}
{% macro run_ids_in_range(column) %}
    {%- set bounds = refresh_run_ids() -%}
    {%- if bounds and bounds[0] %}{{ column }} >= toUUID('{{ bounds[0] }}'){% else %}true{% endif %}
    {%- if bounds and bounds[1] %} and {{ column }} < toUUID('{{ bounds[1] }}'){% endif -%}
{% endmacro %}

{#- Whether this run was given a window (dates or organizations), not the watermark's days. -#}
{% macro refresh_window_is_set() %}
    {{ return(validated_date('refresh_start_date') is not none
              or validated_date('refresh_end_date') is not none
              or validated_org_ids() | length > 0) }}
{% endmacro %}

{#- The window given to this run as a condition on org_id and report_date, its dates widened by
    days_before and days_after (for a model whose rows look back over earlier days). Constant
    bounds, so a table ordered by (org_id, report_date) reads only those rows. -#}
{% macro refresh_window_rows(days_before=0, days_after=0) %}
    {%- set start_date = validated_date('refresh_start_date') -%}
    {%- set end_date = validated_date('refresh_end_date') -%}
    {%- set org_ids = validated_org_ids() -%}
    {%- if org_ids -%}
    org_id in ({{ quoted_list(org_ids) }})
    {%- else -%}
    true
    {%- endif %}
    {%- if start_date or end_date %}
    and report_date between '{{ shifted_date(start_date or end_date, -days_before) }}'
        and '{{ shifted_date(end_date or start_date, days_after) }}'
    {%- endif %}
{% endmacro %}

{#- A YYYY-MM-DD date moved by `days`, kept within ClickHouse's Date range. -#}
{% macro shifted_date(value, days) %}
    {%- set datetime = modules.datetime -%}
    {%- set shifted = datetime.date.fromisoformat(value) + datetime.timedelta(days=days | int) -%}
    {%- set shifted = [[shifted, datetime.date(1970, 1, 1)] | max, datetime.date(2149, 6, 6)] | min -%}
    {{ return(shifted.isoformat()) }}
{% endmacro %}

{#- Incremental marts first delete the days being rebuilt, then append them again: running the
    same window twice leaves identical rows, and days outside the window are untouched.
    A mart whose rows also depend on earlier days (config rebuild_days_after: N, the anomaly
    baselines) rebuilds, on a run given a window, the window's rows and the N days after it, and
    on a run without one (the watermark's scattered days, a changed rule) every row.
    DBT_REFRESH_APPEND_ONLY=1 skips the delete: set by the service for the 2nd..nth slice of a sliced
    full refresh only, whose days cannot be in the marts yet (the first slice recreated them); a
    lightweight DELETE costs a mutation over every part of the table, whatever it deletes. -#}
{% macro refresh_append_only() %}
    {%- set value = env_var('DBT_REFRESH_APPEND_ONLY', '') -%}
    {%- if value not in ('', '0', '1') -%}
        {{ exceptions.raise_compiler_error("DBT_REFRESH_APPEND_ONLY must be 0 or 1, got: " ~ value) }}
    {%- endif -%}
    {{ return(value == '1') }}
{% endmacro %}

{% macro delete_refresh_window() %}
    {%- if is_incremental() and not refresh_append_only() and refresh_run_ids() -%}
    {{ exceptions.raise_compiler_error("A range of run ids only appends to a full build (DBT_REFRESH_APPEND_ONLY=1 or --full-refresh)") }}
    {%- endif -%}
    {%- if is_incremental() and not refresh_append_only() -%}
    {%- set days_after = config.get('rebuild_days_after') -%}
    {%- if days_after is not none and refresh_window_is_set() -%}
    delete from {{ this }}
    where {{ refresh_window_rows(days_after=days_after) }}
    {%- elif days_after is not none -%}
    {#- every row is rebuilt: TRUNCATE is instant, a DELETE of every row costs a mutation per part -#}
    truncate table {{ this }} {{ on_cluster_clause(this) }}
    {%- else -%}
    {%- set bounds = refresh_window_bounds() -%}
    {%- if bounds is none -%}
    delete from {{ this }}
    where (org_id, report_date) in (select org_id, report_date from {{ ref('int_refresh_window') }})
    {%- elif bounds.org_ids -%}
    delete from {{ this }}
    where org_id in ({{ quoted_list(bounds.org_ids) }})
      and report_date between '{{ bounds.first_day }}' and '{{ bounds.last_day }}'
    {%- endif -%}
    {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- The window's days (int_refresh_window) as constants when they are the same consecutive days
    for each of its organizations (a backfill, a window of dates; rarely the watermark's days):
    the DELETE above then compares org_id and report_date, where the equivalent
    (org_id, report_date) IN (subquery) hashes every row of every part the window touches
    (fct_calls, a year of one organization at 5M calls: 0.08 s instead of 0.2 s). None when they
    are not (use the subquery), no organization at all when the window is empty. -#}
{% macro refresh_window_bounds() %}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select org_id, min(report_date) as first_day, max(report_date) as last_day, count() as days
        from {{ ref('int_refresh_window') }}
        group by org_id
        order by org_id
        limit 1001
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length > 1000 -%}{{ return(none) }}{%- endif -%}
    {%- set org_ids = [] -%}
    {%- for row in rows -%}
        {%- if row['first_day'] != rows[0]['first_day'] or row['last_day'] != rows[0]['last_day']
              or row['days'] != (row['last_day'] - row['first_day']).days + 1
              or not modules.re.match('^[A-Za-z0-9._:-]{1,128}$', row['org_id']) -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do org_ids.append(row['org_id']) -%}
    {%- endfor -%}
    {{ return({'org_ids': org_ids,
               'first_day': rows[0]['first_day'] if rows else none,
               'last_day': rows[0]['last_day'] if rows else none}) }}
{% endmacro %}
