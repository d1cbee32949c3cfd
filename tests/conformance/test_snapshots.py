"""Snapshots on chdb: both strategies and dbt-tests-adapter's snapshot variations."""

from __future__ import annotations

from dbt.tests.adapter.simple_snapshot.new_record_check_mode import BaseSnapshotNewRecordCheckMode
from dbt.tests.adapter.simple_snapshot.new_record_dbt_valid_to_current import (
    BaseSnapshotNewRecordDbtValidToCurrent,
)
from dbt.tests.adapter.simple_snapshot.new_record_timestamp_mode import BaseSnapshotNewRecordTimestampMode
from dbt.tests.adapter.simple_snapshot.test_ephemeral_snapshot_hard_deletes import (
    BaseSnapshotEphemeralHardDeletes,
)
from dbt.tests.adapter.simple_snapshot.test_snapshot import BaseSimpleSnapshot, BaseSnapshotCheck
from dbt.tests.adapter.simple_snapshot.test_various_configs import (
    BaseSnapshotColumnNames,
    BaseSnapshotColumnNamesFromDbtProject,
    BaseSnapshotDbtValidToCurrent,
    BaseSnapshotInvalidColumnNames,
    BaseSnapshotMultiUniqueKey,
)

from tests.conformance.support import adapter_gap, full_only, postgres_fixtures


@postgres_fixtures("source rows are changed with UPDATE and checked as PostgreSQL booleans")
class TestSimpleSnapshot(BaseSimpleSnapshot):
    pass


@postgres_fixtures("source rows are changed with UPDATE and checked as PostgreSQL booleans")
class TestSnapshotCheck(BaseSnapshotCheck):
    pass


@full_only
@postgres_fixtures('tables are created as "".schema.seed with VARCHAR(50) and changed with UPDATE')
class TestSnapshotNewRecordCheckMode(BaseSnapshotNewRecordCheckMode):
    pass


@full_only
@postgres_fixtures('tables are created as "".schema.seed with VARCHAR(50) and changed with UPDATE')
class TestSnapshotNewRecordTimestampMode(BaseSnapshotNewRecordTimestampMode):
    pass


@full_only
@postgres_fixtures('tables are created as "".schema.seed with VARCHAR(50) and changed with UPDATE')
class TestSnapshotNewRecordDbtValidToCurrent(BaseSnapshotNewRecordDbtValidToCurrent):
    pass


@full_only
@postgres_fixtures("the source table is created with VARCHAR(50) under an empty database name")
class TestSnapshotEphemeralHardDeletes(BaseSnapshotEphemeralHardDeletes):
    pass


@full_only
@adapter_gap("snapshot_meta_column_names: the staging query casts NULL to a non-Nullable timestamp")
class TestSnapshotColumnNames(BaseSnapshotColumnNames):
    pass


@full_only
@adapter_gap("snapshot_meta_column_names: the staging query casts NULL to a non-Nullable timestamp")
class TestSnapshotColumnNamesFromDbtProject(BaseSnapshotColumnNamesFromDbtProject):
    pass


@full_only
@adapter_gap("snapshot_meta_column_names: the staging query casts NULL to a non-Nullable timestamp")
class TestSnapshotInvalidColumnNames(BaseSnapshotInvalidColumnNames):
    pass


@full_only
@adapter_gap("dbt_valid_to_current: the snapshot hash calls md5(), which ClickHouse spells MD5")
class TestSnapshotDbtValidToCurrent(BaseSnapshotDbtValidToCurrent):
    pass


@full_only
@adapter_gap("snapshot_meta_column_names: the staging query casts NULL to a non-Nullable timestamp")
class TestSnapshotMultiUniqueKey(BaseSnapshotMultiUniqueKey):
    pass
