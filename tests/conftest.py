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


def _postgres_base() -> str:
    """RETRAIN_TEST_POSTGRES_URL, or the test is skipped with the reason."""
    base = os.environ.get("RETRAIN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("RETRAIN_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    return base


def new_postgres_database(request: pytest.FixtureRequest, *, template: str | None = None) -> str:
    """A fresh PostgreSQL database from RETRAIN_TEST_POSTGRES_URL (empty, or a copy of `template`), dropped when the
    test ends; skips without it."""
    import uuid

    import psycopg

    base = _postgres_base()
    name = f"retrain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return f"{base.rpartition('/')[0]}/{name}"


# What a database holds once the application has opened it: the feedback store's schema at Alembic's head, the
# event store's and the views' tables. Built by a child process (whose connections end with it, since a template
# being used cannot be copied), named by a digest of the code that creates them, kept on the server between runs.
_BUILD_TEMPLATE = """
import sys
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import build_harness, sql_ledger
store = SqlAlchemyFeedbackStore(sys.argv[1])
build_harness(feedback=store, ledger=sql_ledger(sys.argv[1], store))
store.close()
"""
_SCHEMA_SOURCES = ("adapters/sql", "application/ledger.py", "application/read_models.py", "tests/harness.py")


def _template_database() -> str:
    """The name of the migrated template database, built once per schema (across xdist workers: under a PostgreSQL
    advisory lock); older templates of this suite are dropped then."""
    import hashlib
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    import psycopg

    base, root = _postgres_base(), Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(version("eventsourcing").encode())
    for source in _SCHEMA_SOURCES:
        for path in sorted((root / source).rglob("*.py")) if (root / source).is_dir() else [root / source]:
            digest.update(path.read_bytes())
    name = f"retrain_template_{digest.hexdigest()[:16]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext('retrain test template'))")
        try:
            names = [row[0] for row in connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'retrain\\_template\\_%'")]
            if name not in names:
                for old in names:
                    connection.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
                connection.execute(f'CREATE DATABASE "{name}"')
                url = f"{base.rpartition('/')[0]}/{name}"
                built = subprocess.run([sys.executable, "-c", _BUILD_TEMPLATE, url], cwd=root, capture_output=True,
                                       text=True, timeout=300)
                if built.returncode:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    raise RuntimeError(f"building the PostgreSQL template failed: {built.stderr[-2000:]}")
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext('retrain test template'))")
    return name


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """The migrated template database's name (see _template_database)."""
    return _template_database()


@pytest.fixture
def migrated_postgres_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for one test, already holding every table the application creates (a copy of
    the template): the same start as a fresh database the application has opened, without migrating it again."""
    return new_postgres_database(request, template=request.getfixturevalue("postgres_template"))


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for one test, from RETRAIN_TEST_POSTGRES_URL; skipped without it."""
    return new_postgres_database(request)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback (moto's server mode, in a thread of this process) for the whole run."""
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
