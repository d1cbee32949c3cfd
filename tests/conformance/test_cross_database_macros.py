"""dbt's cross-database macros (`dbt.dateadd`, `dbt.listagg`, ...) and data type macros on chdb.

Most cases run as dbt-tests-adapter ships them. Where dbt-clickhouse's macro contract differs
from the generic fixtures in a way a server shares (ClickHouse seeds are not Nullable unless
declared, `replace`/`split_part` take constant arguments, literals need a typed date), the case
runs with ClickHouse-flavoured fixtures: same macros, same expectations. `make test` runs the
ClickHouse-flavoured cases and the common macros; `make conformance` runs them all.
"""

from __future__ import annotations

import pytest
from dbt.tests.adapter.utils.data_types.test_type_bigint import BaseTypeBigInt
from dbt.tests.adapter.utils.data_types.test_type_boolean import BaseTypeBoolean
from dbt.tests.adapter.utils.data_types.test_type_float import BaseTypeFloat
from dbt.tests.adapter.utils.data_types.test_type_int import BaseTypeInt
from dbt.tests.adapter.utils.data_types.test_type_numeric import BaseTypeNumeric
from dbt.tests.adapter.utils.data_types.test_type_string import BaseTypeString
from dbt.tests.adapter.utils.data_types.test_type_timestamp import BaseTypeTimestamp
from dbt.tests.adapter.utils.test_any_value import BaseAnyValue
from dbt.tests.adapter.utils.test_array_append import BaseArrayAppend
from dbt.tests.adapter.utils.test_array_concat import BaseArrayConcat
from dbt.tests.adapter.utils.test_array_construct import BaseArrayConstruct
from dbt.tests.adapter.utils.test_bool_or import BaseBoolOr
from dbt.tests.adapter.utils.test_cast import BaseCast
from dbt.tests.adapter.utils.test_cast_bool_to_text import BaseCastBoolToText
from dbt.tests.adapter.utils.test_concat import BaseConcat
from dbt.tests.adapter.utils.test_current_timestamp import (
    BaseCurrentTimestampAware,
    BaseCurrentTimestampNaive,
)
from dbt.tests.adapter.utils.test_date import BaseDate
from dbt.tests.adapter.utils.test_date_spine import BaseDateSpine
from dbt.tests.adapter.utils.test_date_trunc import BaseDateTrunc
from dbt.tests.adapter.utils.test_dateadd import BaseDateAdd
from dbt.tests.adapter.utils.test_datediff import BaseDateDiff
from dbt.tests.adapter.utils.test_equals import BaseEquals
from dbt.tests.adapter.utils.test_escape_single_quotes import (
    BaseEscapeSingleQuotesBackslash,
    BaseEscapeSingleQuotesQuote,
)
from dbt.tests.adapter.utils.test_except import BaseExcept
from dbt.tests.adapter.utils.test_generate_series import BaseGenerateSeries
from dbt.tests.adapter.utils.test_get_intervals_between import BaseGetIntervalsBetween
from dbt.tests.adapter.utils.test_get_powers_of_two import BaseGetPowersOfTwo
from dbt.tests.adapter.utils.test_hash import BaseHash
from dbt.tests.adapter.utils.test_intersect import BaseIntersect
from dbt.tests.adapter.utils.test_last_day import BaseLastDay
from dbt.tests.adapter.utils.test_length import BaseLength
from dbt.tests.adapter.utils.test_listagg import BaseListagg
from dbt.tests.adapter.utils.test_null_compare import BaseMixedNullCompare, BaseNullCompare
from dbt.tests.adapter.utils.test_position import BasePosition
from dbt.tests.adapter.utils.test_replace import BaseReplace
from dbt.tests.adapter.utils.test_right import BaseRight
from dbt.tests.adapter.utils.test_safe_cast import BaseSafeCast
from dbt.tests.adapter.utils.test_split_part import BaseSplitPart
from dbt.tests.adapter.utils.test_string_literal import BaseStringLiteral
from dbt.tests.adapter.utils.test_timestamps import BaseCurrentTimestamps

from tests.conformance.support import adapter_gap, full_only, not_applicable


def nullable_seed(name: str, **columns: str) -> dict:
    """project_config_update declaring a seed's columns Nullable (ClickHouse's NULL needs it)."""
    types = {column: f"Nullable({kind})" for column, kind in columns.items()}
    return {"seeds": {"test": {name: {"+column_types": types}}}}


class TestArrayAppend(BaseArrayAppend):
    # `array_construct([])` is typed Array(Int32) (dbt's integer), so the appended result is Int32
    # while ClickHouse types the literal [1,2,3,4] as Array(UInt8): compare at the same type.
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "actual.sql": "select 1 as id, {{ array_append(array_construct([1,2,3]), 4) }} as array_col union all\n"
            "select 2 as id, {{ array_append(array_construct([]), 4) }} as array_col\n",
            "expected.sql": "select 1 as id, cast({{ array_construct([1,2,3,4]) }} as Array(Int32)) as array_col"
            " union all\nselect 2 as id, cast({{ array_construct([4]) }} as Array(Int32)) as array_col\n",
        }


class TestArrayConcat(BaseArrayConcat):
    @pytest.fixture(scope="class")
    def models(self):
        actual = "\nunion all\n".join(
            f"select {i} as id, {{{{ array_concat(array_construct({a}), array_construct({b})) }}}} as array_col"
            for i, a, b in ((1, [1, 2, 3], [4, 5, 6]), (2, [], [2]), (3, [3], []))
        )
        expected = "\nunion all\n".join(
            f"select {i} as id, cast({{{{ array_construct({v}) }}}} as Array(Int32)) as array_col"
            for i, v in ((1, [1, 2, 3, 4, 5, 6]), (2, [2]), (3, [3]))
        )
        return {"actual.sql": actual, "expected.sql": expected}


class TestDateAdd(BaseDateAdd):
    # The model casts every branch to dbt's timestamp (DateTime, not Nullable): ClickHouse refuses
    # to cast the NULL row, so the seed goes without it.
    @pytest.fixture(scope="class")
    def seeds(self):
        from dbt.tests.adapter.utils.fixture_dateadd import seeds__data_dateadd_csv

        rows = [row for row in seeds__data_dateadd_csv.splitlines() if not row.startswith(",")]
        return {"data_dateadd.csv": "\n".join(rows) + "\n"}


class TestLastDay(BaseLastDay):
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return nullable_seed("data_last_day", date_day="Date", date_part="String", result="Date")


DATEDIFF_LITERALS = [
    ("microsecond", "2000-01-01"),
    ("millisecond", "2000-01-01"),
    ("second", "2000-01-01"),
    ("minute", "2000-01-01"),
    ("hour", "2000-01-01"),
    ("day", "2000-01-01"),
    ("week", "2000-01-03"),
    ("month", "2000-01-01"),
    ("quarter", "2000-01-01"),
    ("year", "2000-01-01"),
]


class TestDateDiff(BaseDateDiff):
    # The generic model ends with string literals ('1999-12-31 23:59:59.999999'); ClickHouse's
    # dateDiff wants typed values, so the literals are DateTime64 here.
    @pytest.fixture(scope="class")
    def models(self):
        from dbt.tests.adapter.utils.fixture_datediff import (
            models__test_datediff_sql,
            models__test_datediff_yml,
        )

        columns = models__test_datediff_sql.split("-- Also test correct casting")[0]
        literals = "".join(
            "\nunion all select {{ datediff(\"toDateTime64('1999-12-31 23:59:59.999999', 6)\", "
            f"\"toDateTime64('{day} 00:00:00.000000', 6)\", '{part}') }}}} as actual, 1 as expected"
            for part, day in DATEDIFF_LITERALS
        )
        return {"test_datediff.yml": models__test_datediff_yml, "test_datediff.sql": columns + literals}

    @pytest.fixture(scope="class")
    def project_config_update(self):
        return nullable_seed(
            "data_datediff", first_date="DateTime", second_date="DateTime", datepart="String", result="Int64"
        )


class TestReplace(BaseReplace):
    # dbt-clickhouse's replace() takes the search and replacement as constants.
    @pytest.fixture(scope="class")
    def models(self):
        from dbt.tests.adapter.utils.fixture_replace import models__test_replace_yml

        sql = (
            "select {{ replace(\"'a'\", 'a', 'b') }} as actual, 'b' as expected\nunion all\n"
            "select {{ replace(\"'http://google.com'\", 'http://', '') }} as actual, 'google.com' as expected\n"
        )
        return {"test_replace.yml": models__test_replace_yml, "test_replace.sql": sql}


class TestSplitPart(BaseSplitPart):
    # ClickHouse's splitByString needs a constant separator.
    @pytest.fixture(scope="class")
    def models(self):
        from dbt.tests.adapter.utils.fixture_split_part import (
            models__test_split_part_sql,
            models__test_split_part_yml,
        )

        return {
            "test_split_part.yml": models__test_split_part_yml,
            "test_split_part.sql": models__test_split_part_sql.replace("'split_on'", "\"'|'\""),
        }


class TestCurrentTimestamps(BaseCurrentTimestamps):
    @pytest.fixture(scope="class")
    def expected_schema(self):
        return {
            name: "DateTime"
            for name in (
                "current_timestamp",
                "current_timestamp_in_utc_backcompat",
                "current_timestamp_backcompat",
            )
        }

    @pytest.fixture(scope="class")
    def expected_sql(self):
        return None


@not_applicable("current_timestamp() is a DateTime without a zone, as TestCurrentTimestampNaive checks")
class TestCurrentTimestampAware(BaseCurrentTimestampAware):
    pass


@adapter_gap("no ClickHouse version of dbt.date() (the default calls to_date)")
@full_only
class TestDate(BaseDate):
    pass


@adapter_gap("date_spine's datediff is given string literals, which ClickHouse's dateDiff refuses")
@full_only
class TestDateSpine(BaseDateSpine):
    pass


@adapter_gap("get_intervals_between's datediff is given string literals, which ClickHouse's dateDiff refuses")
@full_only
class TestGetIntervalsBetween(BaseGetIntervalsBetween):
    pass


class TestAnyValue(BaseAnyValue):
    pass


@full_only
class TestArrayConstruct(BaseArrayConstruct):
    pass


class TestBoolOr(BaseBoolOr):
    pass


class TestCast(BaseCast):
    pass


@full_only
class TestCastBoolToText(BaseCastBoolToText):
    pass


class TestConcat(BaseConcat):
    pass


@full_only
class TestCurrentTimestampNaive(BaseCurrentTimestampNaive):
    pass


class TestDateTrunc(BaseDateTrunc):
    pass


@full_only
class TestEquals(BaseEquals):
    pass


class TestEscapeSingleQuotesQuote(BaseEscapeSingleQuotesQuote):
    pass


@full_only
class TestEscapeSingleQuotesBackslash(BaseEscapeSingleQuotesBackslash):
    pass


class TestExcept(BaseExcept):
    pass


@full_only
class TestGenerateSeries(BaseGenerateSeries):
    pass


@full_only
class TestGetPowersOfTwo(BaseGetPowersOfTwo):
    pass


class TestHash(BaseHash):
    pass


class TestIntersect(BaseIntersect):
    pass


class TestLength(BaseLength):
    pass


class TestListagg(BaseListagg):
    pass


@full_only
class TestMixedNullCompare(BaseMixedNullCompare):
    pass


@full_only
class TestNullCompare(BaseNullCompare):
    pass


class TestPosition(BasePosition):
    pass


@full_only
class TestRight(BaseRight):
    pass


class TestSafeCast(BaseSafeCast):
    pass


class TestStringLiteral(BaseStringLiteral):
    pass


class TestTypeBigInt(BaseTypeBigInt):
    # ClickHouse types the bare literal 9223372036854775800 as UInt64; the macro's type is Int64.
    @pytest.fixture(scope="class")
    def models(self):
        from dbt.tests.adapter.utils.data_types.test_type_bigint import models__actual_sql

        return {
            "expected.sql": "select toInt64(9223372036854775800) as bigint_col",
            "actual.sql": self.interpolate_macro_namespace(models__actual_sql, "type_bigint"),
        }


@full_only
class TestTypeBoolean(BaseTypeBoolean):
    pass


@full_only
class TestTypeFloat(BaseTypeFloat):
    pass


@full_only
class TestTypeInt(BaseTypeInt):
    pass


@full_only
class TestTypeNumeric(BaseTypeNumeric):
    pass


@full_only
class TestTypeString(BaseTypeString):
    pass


@full_only
class TestTypeTimestamp(BaseTypeTimestamp):
    pass
