"""Seeds on chdb: dbt-tests-adapter's seed cases and ClickHouse column types."""

from __future__ import annotations

import pytest
from dbt.tests.adapter.simple_seed.test_seed import (
    BaseBasicSeedTests,
    BaseSeedConfigFullRefreshOff,
    BaseSeedConfigFullRefreshOn,
    BaseSeedCustomSchema,
    BaseSeedParsing,
    BaseSeedSpecificFormats,
    BaseSeedWithEmptyDelimiter,
    BaseSeedWithUniqueDelimiter,
    BaseSeedWithWrongDelimiter,
    BaseSimpleSeedEnabledViaConfig,
    BaseSimpleSeedWithBOM,
    BaseTestEmptySeed,
)
from dbt.tests.adapter.simple_seed.test_seed_type_override import BaseSimpleSeedColumnOverride
from dbt.tests.util import run_dbt

from tests.conformance.support import full_only, postgres_fixtures

NULLABLE_SEED = """key,val1,val2,str1
abc,1,1,some_str
abc,1,0,"another; string"
def,1,0,
hij,1,,"second string"
"""

NULLABLE_SEED_YML = """
seeds:
  - name: nullable
    config:
      column_types:
        val2: Nullable(UInt32)
        str1: Nullable(String)
"""


class TestSeedColumnTypes:
    """Declared ClickHouse types, NULLs from empty fields, a semicolon inside quoted CSV data."""

    @pytest.fixture(scope="class")
    def seeds(self):
        return {
            "nullable.csv": NULLABLE_SEED,
            "schema.yml": NULLABLE_SEED_YML,
            "flags.csv": "key,value\na,true\nb,false\n",
        }

    def test_seed(self, project):
        assert len(run_dbt(["seed"])) == 2
        columns = {row[0]: row[1] for row in project.run_sql("describe table nullable", fetch="all")}
        assert columns["val2"] == "Nullable(UInt32)" and columns["str1"] == "Nullable(String)"
        nulls = project.run_sql(
            "select countIf(val2 is null), countIf(str1 is null) from nullable", fetch="one"
        )
        assert tuple(nulls) == (1, 1)
        assert project.run_sql("select str1 from nullable where key = 'abc' and val2 = 0", fetch="one")[
            0
        ] == ("another; string")
        assert project.run_sql("select toTypeName(value) from flags limit 1", fetch="one")[0] == "Bool"


@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestBasicSeed(BaseBasicSeedTests):
    pass


@postgres_fixtures("column_types overrides are PostgreSQL types")
class TestSeedColumnOverride(BaseSimpleSeedColumnOverride):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedConfigFullRefreshOn(BaseSeedConfigFullRefreshOn):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedConfigFullRefreshOff(BaseSeedConfigFullRefreshOff):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedCustomSchema(BaseSeedCustomSchema):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedWithUniqueDelimiter(BaseSeedWithUniqueDelimiter):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedWithWrongDelimiter(BaseSeedWithWrongDelimiter):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedWithEmptyDelimiter(BaseSeedWithEmptyDelimiter):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSimpleSeedEnabledViaConfig(BaseSimpleSeedEnabledViaConfig):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSeedParsing(BaseSeedParsing):
    pass


@full_only
@postgres_fixtures("expected tables are created WITHOUT TIME ZONE / dropped with CASCADE")
class TestSimpleSeedWithBOM(BaseSimpleSeedWithBOM):
    pass


@full_only
class TestSeedSpecificFormats(BaseSeedSpecificFormats):
    pass


@full_only
class TestEmptySeed(BaseTestEmptySeed):
    pass
