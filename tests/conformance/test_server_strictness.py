"""The embedded target is as strict as a server: one statement per query, grants skipped loudly."""

from __future__ import annotations

import pytest
from dbt.tests.util import relation_from_name, run_dbt, run_dbt_and_capture

from service.core.dbt_chdb import (
    GRANTS_SKIPPED,
    MULTI_STATEMENTS,
    may_hold_several_statements,
    multi_statement_error,
    statement_start,
)


@pytest.mark.parametrize(
    ("sql", "maybe"),
    [
        ("select 1", False),
        ("select 1;", False),
        ("select 1 ;  ;\n", False),
        ("select 'a;b'", True),  # the engine's parser decides; it accepts this one
        ("SET x = 1; select 1", True),
    ],
)
def test_only_text_after_a_semicolon_is_sent_to_the_parser(sql, maybe):
    assert may_hold_several_statements(sql) is maybe


def test_statement_start_skips_comments():
    sql = '/* {"app": "dbt"} */\n-- note\n#! shebang\n  grant select on t to u'
    assert sql[statement_start(sql) :].startswith("grant")


def test_the_error_is_the_servers_text():
    parser = (
        "Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed): failed at position 9 "
        "(end of query): ; SELECT 2. : In scope SELECT formatQuery('SELECT 1; SELECT 2'). (SYNTAX_ERROR)"
    )
    first_line = multi_statement_error(parser).splitlines()[0]
    assert first_line == (
        "Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed): failed at position 9 "
        "(end of query): ; SELECT 2. . (SYNTAX_ERROR)"
    )


MULTI_STATEMENT_HEADER = """
{{ config(materialized='table', sql_header='SET max_threads = 1;') }}
select 1 as id
"""

SETTINGS_INSTEAD = """
{{ config(materialized='table', query_settings={'max_threads': 1}) }}
select 1 as id
"""

SEMICOLONS_IN_TEXT = """
{{ config(materialized='table') }}
-- a comment; with a semicolon
select 'a;b' as quoted, /* c; d */ "e;f" as id
from (select 1 as "e;f")
"""


class TestMultiStatementSqlHeader:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "with_set_header.sql": MULTI_STATEMENT_HEADER,
            "with_query_settings.sql": SETTINGS_INSTEAD,
            "semicolons_in_text.sql": SEMICOLONS_IN_TEXT,
        }

    def test_a_set_statement_in_sql_header_fails_as_on_a_server(self, project):
        results, output = run_dbt_and_capture(["run", "--select", "with_set_header"], expect_pass=False)
        assert str(results[0].status) == "error"
        message = results[0].message
        assert "Code: 62" in message and f"Syntax error ({MULTI_STATEMENTS})" in message, message
        assert "(SYNTAX_ERROR)" in message
        assert "failed at position" in message

    def test_settings_in_the_model_config_build(self, project):
        results = run_dbt(["run", "--select", "with_query_settings"])
        assert str(results[0].status) == "success"

    def test_semicolons_inside_strings_and_comments_are_one_statement(self, project):
        run_dbt(["run", "--select", "semicolons_in_text"])
        relation = relation_from_name(project.adapter, "semicolons_in_text")
        assert tuple(project.run_sql(f"select quoted, id from {relation}", fetch="one")) == ("a;b", 1)


class TestMultiStatementsThroughTheDriver:
    def test_a_trailing_semicolon_is_one_statement(self, project):
        project.run_sql(f"create table {project.test_schema}.t (id Int32) engine = MergeTree order by id;\n")
        project.run_sql(f"insert into {project.test_schema}.t values (1), (2);  ;")
        assert project.run_sql(f"select count() from {project.test_schema}.t;", fetch="one")[0] == 2

    def test_two_statements_are_refused_and_not_run(self, project):
        with pytest.raises(Exception, match=r"Multi-statements are not allowed"):
            project.run_sql(f"create table {project.test_schema}.u (id Int32) engine = Memory; select 2")
        assert project.run_sql(f"exists table {project.test_schema}.u", fetch="one")[0] == 0
        assert project.run_sql("select 1;  -- done", fetch="one")[0] == 1


GRANTED_TABLE = """
{{ config(materialized='table', grants={'select': ['analyst_role']}) }}
select 1 as id
"""

GRANTED_INCREMENTAL = """
{{ config(materialized='incremental', grants={'select': ['analyst_role', 'bi_role']}) }}
select 1 as id
"""


class TestGrantsAreSkippedWithOneWarning:
    @pytest.fixture(scope="class")
    def models(self):
        return {"granted_table.sql": GRANTED_TABLE, "granted_incremental.sql": GRANTED_INCREMENTAL}

    def test_models_with_grants_build_and_warn_once_per_run(self, project):
        for _ in range(2):  # the second run reads the (empty) current grants of existing relations
            results, output = run_dbt_and_capture(["run"])
            assert all(str(result.status) == "success" for result in results)
            assert output.count(GRANTS_SKIPPED) == 1, output
