"""The triggers and campaigns features again, with the PostgreSQL feedback store (RETRAIN_TEST_POSTGRES_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import scenarios

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness


@pytest.fixture
def harness(postgres_url: str) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(postgres_url)
    yield build_harness(feedback=store)
    store.close()


scenarios("triggers.feature", "campaigns.feature")
