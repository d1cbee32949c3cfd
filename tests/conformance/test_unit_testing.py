"""dbt unit tests on chdb."""

from __future__ import annotations

import pytest
from dbt.tests.adapter.unit_testing.test_case_insensitivity import BaseUnitTestCaseInsensivity
from dbt.tests.adapter.unit_testing.test_invalid_input import BaseUnitTestInvalidInput
from dbt.tests.adapter.unit_testing.test_quoted_reserved_word_column_names import (
    BaseUnitTestQuotedReservedWordColumnNames,
)
from dbt.tests.adapter.unit_testing.test_types import BaseUnitTestingTypes

from tests.conformance.support import full_only


class TestUnitTestingTypes(BaseUnitTestingTypes):
    # The generic list is written in PostgreSQL literals (TIMESTAMP '...-0', '1'::numeric).
    @pytest.fixture
    def data_types(self):
        return [
            ["1", "1"],
            ["'1'", "1"],
            ["true", "true"],
            ["toDate('2020-01-02')", "2020-01-02"],
            ["toDateTime('2013-11-03 00:00:00', 'UTC')", "2013-11-03 00:00:00"],
            ["toDecimal64('1', 2)", "1"],
            ["toFloat64(1.5)", "1.5"],
            ["[1, 2, 3]", "[1, 2, 3]"],
        ]


class TestUnitTestCaseInsensitivity(BaseUnitTestCaseInsensivity):
    pass


@full_only
class TestUnitTestInvalidInput(BaseUnitTestInvalidInput):
    pass


@full_only
class TestUnitTestQuotedReservedWordColumnNames(BaseUnitTestQuotedReservedWordColumnNames):
    pass
