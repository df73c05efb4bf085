"""The features again on PostgreSQL (RETRAIN_TEST_POSTGRES_URL) for the event store, the feedback store and the
views, and on S3-compatible object storage (moto's server on loopback) for the blobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import scenarios

from adapters.blobs.s3 import S3BlobStore
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger


@pytest.fixture
def harness(postgres_url: str, s3_location: str, s3_endpoint: str) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(postgres_url)
    blobs = S3BlobStore(s3_location, endpoint_url=s3_endpoint)
    yield build_harness(feedback=store, blobs=blobs, ledger=sql_ledger(postgres_url, store))
    store.close()


scenarios("triggers.feature", "campaigns.feature", "rollout.feature", "rollback.feature", "audit.feature",
          "privacy.feature")
