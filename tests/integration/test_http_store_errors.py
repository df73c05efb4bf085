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
