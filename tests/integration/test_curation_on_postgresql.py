"""The curation and review features again, with the PostgreSQL feedback store (RETRAIN_TEST_POSTGRES_URL), the
filesystem blob store and the torch predictor's image check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import scenarios

from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness
from tests.integration.real_adapters import TorchImageCheck


@pytest.fixture
def make_harness(postgres_url: str, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    stores: list[SqlAlchemyFeedbackStore] = []

    def make(**settings: Any) -> Harness:
        # A scenario that rebuilds the application with other settings does so before writing anything.
        stores.append(SqlAlchemyFeedbackStore(postgres_url))
        return build_harness(feedback=stores[-1], blobs=FilesystemBlobStore(tmp_path / f"blobs-{len(stores)}"),
                             predictor=TorchImageCheck(), **settings)

    yield make
    for store in stores:
        store.close()


scenarios("curation.feature", "review.feature")
