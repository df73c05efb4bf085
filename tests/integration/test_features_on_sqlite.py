"""The triggers and campaigns features again, with the SQLite feedback store in place of the in-memory one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_bdd import scenarios

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield build_harness(feedback=store)
    store.close()


scenarios("triggers.feature", "campaigns.feature")
