"""What needs a ClickHouse server's surroundings: a cluster, Keeper, users, S3, the query log.

These are the cases the embedded target cannot run; each is skipped with its reason so the
summary says what the conformance run did not prove. dbt-tests-adapter's grant cases are here too.
"""

from __future__ import annotations

import pytest
from dbt.tests.adapter.grants.test_incremental_grants import BaseIncrementalGrants
from dbt.tests.adapter.grants.test_invalid_grants import BaseInvalidGrants
from dbt.tests.adapter.grants.test_model_grants import BaseModelGrants
from dbt.tests.adapter.grants.test_seed_grants import BaseSeedGrants
from dbt.tests.adapter.grants.test_snapshot_grants import BaseSnapshotGrants
from dbt.tests.util import relation_from_name, run_dbt

from tests.conformance.support import NEEDS_CLUSTER, NEEDS_KEEPER, NEEDS_QUERY_LOG, NEEDS_S3, NEEDS_USERS

needs_users = pytest.mark.skip(reason=NEEDS_USERS)


@needs_users
class TestModelGrants(BaseModelGrants):
    pass


@needs_users
class TestIncrementalGrants(BaseIncrementalGrants):
    pass


@needs_users
class TestSeedGrants(BaseSeedGrants):
    pass


@needs_users
class TestSnapshotGrants(BaseSnapshotGrants):
    pass


@needs_users
class TestInvalidGrants(BaseInvalidGrants):
    pass


@pytest.mark.skip(reason=NEEDS_CLUSTER)
class TestDistributedTable:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "dist.sql": "{{ config(materialized='distributed_table', sharding_key='id') }} select 1 as id"
        }

    def test_distributed_table(self, project):
        run_dbt(["run"])
        assert project.run_sql("select count() from dist", fetch="one")[0] == 1


@pytest.mark.skip(reason=NEEDS_CLUSTER)
class TestDistributedIncremental:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "dist_inc.sql": "{{ config(materialized='distributed_incremental', sharding_key='id') }} select 1 as id"
        }

    def test_distributed_incremental(self, project):
        run_dbt(["run"])
        run_dbt(["run"])


@pytest.mark.skip(reason=NEEDS_KEEPER)
class TestReplicatedEngine:
    @pytest.fixture(scope="class")
    def models(self):
        engine = "ReplicatedMergeTree('/clickhouse/tables/{uuid}/one_shard', '{replica}')"
        return {
            "replicated.sql": f"{{{{ config(materialized='table', engine=\"{engine}\") }}}} select 1 as id"
        }

    def test_replicated_table(self, project):
        run_dbt(["run"])


@pytest.mark.skip(reason=NEEDS_S3)
class TestS3Source:
    @pytest.fixture(scope="class")
    def models(self):
        return {"from_s3.sql": "select * from {{ adapter.s3source('taxi_s3', 'trips') }}"}

    def test_s3_source(self, project):
        run_dbt(["run"])


@pytest.mark.skip(reason=NEEDS_QUERY_LOG)
class TestQueryLogSettings:
    """dbt-clickhouse checks its query settings by reading them back from system.query_log."""

    @pytest.fixture(scope="class")
    def models(self):
        return {
            "with_settings.sql": "{{ config(materialized='table', query_settings={'max_threads': 2}) }} select 1 as id"
        }

    def test_settings_reach_the_query_log(self, project):
        run_dbt(["run"])
        relation = relation_from_name(project.adapter, "with_settings")
        rows = project.run_sql(
            f"select Settings['max_threads'] from system.query_log where query like '%{relation.identifier}%'",
            fetch="all",
        )
        assert ("2",) in [tuple(row) for row in rows]
