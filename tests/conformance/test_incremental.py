"""Incremental models on chdb: every strategy dbt-clickhouse offers, unique keys, predicates, schema changes."""

from __future__ import annotations

import pytest
from dbt.tests.adapter.basic.test_incremental import BaseIncremental, BaseIncrementalNotSchemaChange
from dbt.tests.adapter.incremental.test_incremental_merge_exclude_columns import BaseMergeExcludeColumns
from dbt.tests.adapter.incremental.test_incremental_microbatch import BaseMicrobatch
from dbt.tests.adapter.incremental.test_incremental_on_schema_change import BaseIncrementalOnSchemaChange
from dbt.tests.adapter.incremental.test_incremental_predicates import BaseIncrementalPredicates
from dbt.tests.adapter.incremental.test_incremental_unique_id import BaseIncrementalUniqueKey
from dbt.tests.util import relation_from_name, run_dbt

from tests.conformance.support import adapter_gap, full_only, mark_methods, not_applicable


def strategy(name: str, **config: object) -> dict:
    return {
        "name": "incremental",
        "models": {"+incremental_strategy": name, **{f"+{k}": v for k, v in config.items()}},
    }


class TestIncrementalDefault(BaseIncremental):
    """dbt-clickhouse's default strategy (`legacy`: a new table swapped in)."""


class TestIncrementalAppend(BaseIncremental):
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return strategy("append")


class TestIncrementalDeleteInsert(BaseIncremental):
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return strategy("delete+insert", unique_key="id")


class TestIncrementalInsertOverwrite(BaseIncremental):
    # New rows (id > 10) land in their own partition, which the strategy replaces whole.
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return strategy("insert_overwrite", partition_by="id > 10")


REPLACED_PARTITIONS = """
{{ config(materialized='incremental', incremental_strategy='insert_overwrite',
          partition_by='month', order_by='id') }}
{% if is_incremental() %}
select toUInt64(3) as id, toUInt64(2) as month, 'rewritten' as label
{% else %}
select number + 1 as id, intDiv(number, 2) + 1 as month, 'first' as label from numbers(6)
{% endif %}
"""


class TestInsertOverwriteReplacesWholePartitions:
    @pytest.fixture(scope="class")
    def models(self):
        return {"by_month.sql": REPLACED_PARTITIONS}

    def test_only_the_partitions_in_the_new_rows_are_replaced(self, project):
        run_dbt(["run"])
        run_dbt(["run"])
        relation = relation_from_name(project.adapter, "by_month")
        rows = project.run_sql(f"select id, month, label from {relation} order by id", fetch="all")
        assert [tuple(row) for row in rows] == [
            (1, 1, "first"),
            (2, 1, "first"),
            (3, 2, "rewritten"),
            (5, 3, "first"),
            (6, 3, "first"),
        ]


MICROBATCH_INPUT = """
{{ config(materialized='table', event_time='event_time') }}
select 1 as id, toDateTime('2020-01-01 00:00:00', 'UTC') as event_time
union all
select 2 as id, toDateTime('2020-01-02 00:00:00', 'UTC') as event_time
union all
select 3 as id, toDateTime('2020-01-03 00:00:00', 'UTC') as event_time
"""


class TestIncrementalMicrobatch(BaseMicrobatch):
    # The generic input model writes TIMESTAMP '2020-01-01 00:00:00-0', which ClickHouse does not parse.
    @pytest.fixture(scope="class")
    def input_model_sql(self):
        return MICROBATCH_INPUT

    @pytest.fixture(scope="class")
    def insert_two_rows_sql(self, project):
        return (
            f"insert into {project.test_schema}.input_model (id, event_time) values "
            "(4, toDateTime('2020-01-04 00:00:00', 'UTC')), (5, toDateTime('2020-01-05 00:00:00', 'UTC'))"
        )


@full_only
@mark_methods(
    adapter_gap(
        "the generic unique-key fixtures mix Date and String in one column, which ClickHouse cannot join on"
    ),
    "test__one_unique_key",
    "test__unary_unique_key_list",
    "test__duplicated_unary_unique_key_list",
    "test__trinary_unique_key_list",
)
class TestIncrementalUniqueKey(BaseIncrementalUniqueKey):
    pass


@full_only
class TestIncrementalPredicatesDeleteInsert(BaseIncrementalPredicates):
    pass


@full_only
@adapter_gap("the generic on_schema_change fixtures expect NULL in new non-Nullable columns")
class TestIncrementalOnSchemaChange(BaseIncrementalOnSchemaChange):
    pass


@full_only
class TestIncrementalNotSchemaChange(BaseIncrementalNotSchemaChange):
    pass


@not_applicable("dbt-clickhouse has no `merge` incremental strategy (merge_exclude_columns)")
class TestMergeExcludeColumns(BaseMergeExcludeColumns):
    pass
