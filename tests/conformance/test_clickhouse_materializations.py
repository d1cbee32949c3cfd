"""dbt-clickhouse's own materializations on chdb: materialized views and dictionaries."""

from __future__ import annotations

import pytest
from dbt.tests.util import run_dbt

from tests.conformance.support import full_only

pytestmark = full_only

EVENTS = "select number as id, if(number % 2 = 0, 'even', 'odd') as kind from numbers(10)"

MV_MODEL = """
{{ config(materialized='materialized_view', engine='SummingMergeTree()', order_by='kind') }}
select kind, count() as n from {{ ref('events') }} group by kind
"""

DICTIONARY_MODEL = """
{{ config(materialized='dictionary', fields=[('id', 'UInt64'), ('kind', 'String')], primary_key='id',
          layout='HASHED()', lifetime='MIN 0 MAX 0', source_type='clickhouse') }}
select id, kind from {{ ref('events') }}
"""


class TestMaterializedView:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "events.sql": "{{ config(materialized='table', order_by='id') }} " + EVENTS,
            "kinds.sql": MV_MODEL,
        }

    def test_rows_inserted_after_the_build_reach_the_target(self, project):
        run_dbt(["run"])
        schema = project.test_schema
        before = dict(project.run_sql(f"select kind, sum(n) from {schema}.kinds group by kind", fetch="all"))
        assert before == {"even": 5, "odd": 5}
        project.run_sql(f"insert into {schema}.events select number + 100, 'odd' from numbers(3)")
        after = dict(project.run_sql(f"select kind, sum(n) from {schema}.kinds group by kind", fetch="all"))
        assert after == {"even": 5, "odd": 8}


class TestDictionary:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "events.sql": "{{ config(materialized='table', order_by='id') }} " + EVENTS,
            "kind_by_id.sql": DICTIONARY_MODEL,
        }

    def test_dictionary_lookup(self, project):
        run_dbt(["run"])
        schema = project.test_schema
        assert (
            project.run_sql(f"select dictGet('{schema}.kind_by_id', 'kind', toUInt64(3))", fetch="one")[0]
            == "odd"
        )
