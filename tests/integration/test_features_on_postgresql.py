"""The features again on PostgreSQL (RETRAIN_TEST_POSTGRES_URL): event store, feedback store and views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import scenarios

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger


@pytest.fixture
def harness(postgres_url: str) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(postgres_url)
    yield build_harness(feedback=store, ledger=sql_ledger(postgres_url, store))
    store.close()


scenarios("triggers.feature", "campaigns.feature", "rollout.feature", "rollback.feature", "audit.feature",
          "privacy.feature")
