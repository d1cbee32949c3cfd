"""The rest of dbt-tests-adapter that applies to ClickHouse: aliases, caching, clone, show, hooks, docs, ..."""

from __future__ import annotations

from dbt.tests.adapter.aliases.test_aliases import BaseAliasErrors, BaseAliases, BaseSameAliasDifferentSchemas
from dbt.tests.adapter.caching.test_caching import (
    BaseCachingLowercaseModel,
    BaseCachingSelectedSchemaOnly,
    BaseCachingUppercaseModel,
    BaseNoPopulateCache,
)
from dbt.tests.adapter.concurrency.test_concurrency import BaseConcurrency
from dbt.tests.adapter.dbt_clone.test_dbt_clone import BaseClonePossible, BaseCloneSameTargetAndState
from dbt.tests.adapter.dbt_show.test_dbt_show import (
    BaseShowDoesNotHandleDoubleLimit,
    BaseShowLimit,
    BaseShowSqlHeader,
)
from dbt.tests.adapter.empty.test_empty import BaseTestEmpty, BaseTestEmptyInlineSourceRef
from dbt.tests.adapter.ephemeral.test_ephemeral import (
    BaseEphemeralErrorHandling,
    BaseEphemeralMulti,
    BaseEphemeralNested,
)
from dbt.tests.adapter.hooks.test_model_hooks import BaseHookRefs, BasePrePostModelHooksInConfig
from dbt.tests.adapter.hooks.test_run_hooks import BaseAfterRunHooks
from dbt.tests.adapter.persist_docs.test_persist_docs import BasePersistDocs
from dbt.tests.adapter.query_comment.test_query_comment import (
    BaseEmptyQueryComments,
    BaseMacroArgsQueryComments,
    BaseMacroInvalidQueryComments,
    BaseMacroQueryComments,
    BaseNullQueryComments,
    BaseQueryComments,
)
from dbt.tests.adapter.relations.test_changing_relation_type import BaseChangeRelationTypeValidator
from dbt.tests.adapter.relations.test_dropping_schema_named import BaseDropSchemaNamed
from dbt.tests.adapter.simple_copy.test_copy_uppercase import BaseSimpleCopyUppercase
from dbt.tests.adapter.store_test_failures_tests.basic import StoreTestFailuresAsInteractions

from tests.conformance.support import adapter_gap, full_only, postgres_fixtures

pytestmark = full_only


class TestAliases(BaseAliases):
    pass


class TestAliasErrors(BaseAliasErrors):
    pass


class TestSameAliasDifferentSchemas(BaseSameAliasDifferentSchemas):
    pass


@adapter_gap("the case reads relation cache keys by database, which ClickHouse relations do not have")
class TestCachingLowercaseModel(BaseCachingLowercaseModel):
    pass


@adapter_gap("the case reads relation cache keys by database, which ClickHouse relations do not have")
class TestCachingUppercaseModel(BaseCachingUppercaseModel):
    pass


@adapter_gap("the case reads relation cache keys by database, which ClickHouse relations do not have")
class TestCachingSelectedSchemaOnly(BaseCachingSelectedSchemaOnly):
    pass


@adapter_gap("the case reads relation cache keys by database, which ClickHouse relations do not have")
class TestNoPopulateCache(BaseNoPopulateCache):
    pass


class TestConcurrency(BaseConcurrency):
    pass


class TestClonePossible(BaseClonePossible):
    pass


class TestCloneSameTargetAndState(BaseCloneSameTargetAndState):
    pass


class TestShowLimit(BaseShowLimit):
    pass


class TestShowSqlHeader(BaseShowSqlHeader):
    pass


@postgres_fixtures("the case expects PostgreSQL's error text")
class TestShowDoesNotHandleDoubleLimit(BaseShowDoesNotHandleDoubleLimit):
    pass


class TestEmptyFlag(BaseTestEmpty):
    pass


class TestEmptyInlineSourceRef(BaseTestEmptyInlineSourceRef):
    pass


@postgres_fixtures("the case compares the compiled SQL with PostgreSQL's create view")
class TestEphemeralMulti(BaseEphemeralMulti):
    pass


@postgres_fixtures("the case compares the compiled SQL with PostgreSQL's create view")
class TestEphemeralNested(BaseEphemeralNested):
    pass


class TestEphemeralErrorHandling(BaseEphemeralErrorHandling):
    pass


@postgres_fixtures("the hooks write to a table created by the suite's data/seed_model.sql")
class TestHookRefs(BaseHookRefs):
    pass


@postgres_fixtures("the hooks write to a table created by the suite's data/seed_model.sql")
class TestPrePostModelHooksInConfig(BasePrePostModelHooksInConfig):
    pass


class TestAfterRunHooks(BaseAfterRunHooks):
    pass


class TestPersistDocs(BasePersistDocs):
    pass


class TestQueryComments(BaseQueryComments):
    pass


class TestMacroQueryComments(BaseMacroQueryComments):
    pass


class TestMacroArgsQueryComments(BaseMacroArgsQueryComments):
    pass


class TestMacroInvalidQueryComments(BaseMacroInvalidQueryComments):
    pass


class TestNullQueryComments(BaseNullQueryComments):
    pass


class TestEmptyQueryComments(BaseEmptyQueryComments):
    pass


class TestChangeRelationTypes(BaseChangeRelationTypeValidator):
    pass


@adapter_gap("no ClickHouse drop_schema_named: the default macro leaves the database")
class TestDropSchemaNamed(BaseDropSchemaNamed):
    pass


@postgres_fixtures("the case imports dbt-postgres")
class TestSimpleCopyUppercase(BaseSimpleCopyUppercase):
    pass


class TestStoreTestFailures(StoreTestFailuresAsInteractions):
    pass
