"""A busy or unavailable store answers 503 with one sentence and Retry-After, and nothing is acknowledged."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.http.app import create_app
from benchmarks.common import home_with_v1
from tests.e2e.feedback_data import png


@pytest.mark.parametrize(("message", "detail"), [
    ("database is locked", "the store is busy"),
    ("disk I/O error", "the store is unavailable"),
])
def test_a_store_that_cannot_commit_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str,
                                                detail: str) -> None:
    container = home_with_v1(tmp_path / "home")

    def cannot_commit(*_: object) -> None:
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(container.feedback, "add", cannot_commit)
    with TestClient(create_app(container, background=False)) as client:
        answer = client.post("/v1/predict", json={"image": base64.b64encode(png(1)).decode()})
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith(detail)
    assert answer.headers["retry-after"] == "1"


def test_losing_the_postgresql_database_while_serving_answers_503_not_500(tmp_path: Path, postgres_url: str) -> None:
    """The database of both stores dropped under a running app (as an operator or a failover would): every
    endpoint that needs it answers 503 with Retry-After, never 500 (health, metrics and predict gave 500)."""
    import os

    import psycopg

    container = home_with_v1(tmp_path / "home", RETRAIN_EVENT_STORE=postgres_url, RETRAIN_FEEDBACK_STORE=postgres_url)
    with TestClient(create_app(container, background=False), raise_server_exceptions=False) as client:
        assert client.get("/v1/models").status_code == 200
        name = postgres_url.rpartition("/")[2]
        with psycopg.connect(os.environ["RETRAIN_TEST_POSTGRES_URL"], autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        answers = {  # health first: it answers 503 at once; the others within the stores' retries
            "healthz": client.get("/healthz"),
            "models": client.get("/v1/models"),
            "predict": client.post("/v1/predict", json={"image": base64.b64encode(png(2)).decode()}),
        }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 503)
    assert all(answer.headers["retry-after"] == "1" for answer in answers.values())
