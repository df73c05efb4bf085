"""The features again on the embedded stores: the SQLite event store, the SQLite feedback store and the SQL views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_bdd import scenarios

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield build_harness(feedback=store, ledger=sql_ledger(f"sqlite:///{tmp_path / 'events.db'}", store))
    store.close()


scenarios("triggers.feature", "campaigns.feature", "rollout.feature", "rollback.feature", "audit.feature",
          "privacy.feature")
