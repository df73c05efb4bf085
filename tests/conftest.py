"""Shared fixtures; the Gherkin step modules are registered here as plugins."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

# Under pytest-xdist each worker, and every process it starts (CLI runs, servers, training nodes), gets its share of
# the cores for torch's and OpenMP's threads: two workers on two cores, each running torch with a thread per core,
# spin against each other and ran two concurrent demos 4.6 times slower (222 s instead of 48 s).
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, share)

from tests.harness import Harness, build_harness

pytest_plugins = [
    "tests.steps.common_steps",
    "tests.steps.monitoring_steps",
    "tests.steps.curation_steps",
    "tests.steps.campaign_steps",  # after the curation steps, whose helpers it uses
    "tests.steps.review_steps",
    "tests.steps.strategy_steps",
    "tests.steps.validation_steps",
    "tests.steps.training_steps",
    "tests.steps.rollout_steps",
    "tests.steps.rollback_steps",
    "tests.steps.audit_steps",
    "tests.steps.privacy_steps",
]


@pytest.fixture
def make_harness() -> Callable[..., Harness]:
    """Builds the application with given settings; tests on real adapters override it."""
    return build_harness


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    """The application over in-memory adapters, at 2026-01-01T00:00Z on a simulated clock."""
    return make_harness()


def new_postgres_database(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database from RETRAIN_TEST_POSTGRES_URL, dropped when the test ends; skips without it."""
    import os
    import uuid

    base = os.environ.get("RETRAIN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("RETRAIN_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    import psycopg

    name = f"retrain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return f"{base.rpartition('/')[0]}/{name}"


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for one test, from RETRAIN_TEST_POSTGRES_URL; skipped without it."""
    return new_postgres_database(request)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback (moto's server mode, in a thread of this process) for the whole run."""
    import os

    from moto.server import ThreadedMotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_location(s3_endpoint: str) -> str:
    """A fresh bucket for one test, as a blob_store setting: s3://bucket/prefix."""
    import uuid

    import boto3

    bucket = f"retrain-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/blobs"
