"""Every feature again on the engines a team runs at scale: PostgreSQL (RETRAIN_TEST_POSTGRES_URL) for the event
store, its read models and the feedback store; S3-compatible object storage (moto's server on loopback) for the
blobs; and the torch predictor's image check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_bdd import scenarios

from adapters.blobs.s3 import S3BlobStore
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger
from tests.integration.real_adapters import TorchImageCheck


@pytest.fixture
def make_harness(migrated_postgres_url: str, s3_location: str, s3_endpoint: str) -> Iterator[Callable[..., Harness]]:
    """Each scenario's stores on a fresh PostgreSQL database copied from the migrated template."""
    url = migrated_postgres_url
    stores: list[SqlAlchemyFeedbackStore] = []

    def make(**settings: Any) -> Harness:
        # A scenario that rebuilds the application with other settings does so before writing anything.
        stores.append(SqlAlchemyFeedbackStore(url))
        return build_harness(feedback=stores[-1], blobs=S3BlobStore(s3_location, endpoint_url=s3_endpoint),
                             ledger=sql_ledger(url, stores[-1]), predictor=TorchImageCheck(), **settings)

    yield make
    for store in stores:
        store.close()


def test_the_real_adapters_are_the_ones_in_use(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    assert isinstance(harness.blobs, S3BlobStore)
    assert type(harness.app.ledger.recorder).__module__ == "eventsourcing.postgres"


scenarios(".")
