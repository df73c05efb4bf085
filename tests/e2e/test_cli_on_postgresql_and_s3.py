"""The main job on the engines a team already runs, by settings alone: both stores on PostgreSQL, blobs on S3."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.e2e.cli import run


@pytest.fixture
def settings(postgres_url: str, s3_location: str, s3_endpoint: str) -> dict[str, str]:
    """Both stores on PostgreSQL and the blobs on S3, as environment variables: nothing else is configured."""
    return {"RETRAIN_EVENT_STORE": postgres_url, "RETRAIN_FEEDBACK_STORE": postgres_url,
            "RETRAIN_BLOB_STORE": s3_location, "RETRAIN_S3__ENDPOINT_URL": s3_endpoint,
            **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}}


def test_the_demo_and_the_reads_run_on_postgresql_and_s3_by_settings_alone(tmp_path: Path,
                                                                           settings: dict[str, str]) -> None:
    home = tmp_path / "home"
    demo = run(home, "demo", "--seed", "0", settings=settings)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    closed = re.search(r"The loop closed: (v\d+) is in production", demo.stdout)
    assert closed, demo.stdout[-2000:]
    promoted = closed.group(1)
    assert not home.exists() or not any(home.rglob("*.db")), "a store was written to the home directory"

    verified = run(home, "models", "verify", "--json", settings=settings)
    assert verified.returncode == 0, verified.stderr
    assert {row["state"] for row in json.loads(verified.stdout)} == {"ok"}
    models = {m["label"]: m["state"] for m in json.loads(run(home, "models", "--json", settings=settings).stdout)}
    assert models[promoted] == "production"
    explained = run(home, "explain", promoted, settings=settings)
    assert explained.returncode == 0 and "validated against its parent" in explained.stdout
    report = json.loads(run(home, "forget", "--user", "user-007", "--json", settings=settings).stdout)
    assert report["deleted"]["predictions"] > 0


def test_serve_and_its_worker_run_on_postgresql_and_s3_by_settings_alone(
    tmp_path: Path, settings: dict[str, str], postgres_url: str, s3_location: str, s3_endpoint: str,
) -> None:
    import base64

    import boto3
    import psycopg

    from tests.e2e.feedback_data import png
    from tests.e2e.server import Server, auth, processes_of, service_env

    home = tmp_path / "home"
    init = run(home, "init", "--epochs", "3", "--baseline-ms", "4", settings=settings)
    assert init.returncode == 0, init.stderr
    server = Server(home, env=service_env(**settings))
    try:
        assert server.client.get("/healthz").json()["production"] == "v1"
        assert processes_of(home, "worker"), "serve started no worker"
        answer = server.client.post("/v1/predict", json={"image": base64.b64encode(png(7)).decode(),
                                                         "user_ref": "u1"}, headers=auth("ingest"))
        assert answer.status_code == 200, answer.text
        with psycopg.connect(postgres_url) as connection:
            [(sha,)] = connection.execute("SELECT image_sha256 FROM predictions WHERE prediction_id = %s",
                                          (answer.json()["prediction_id"],)).fetchall()
        bucket, _, prefix = s3_location.removeprefix("s3://").partition("/")
        stored = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=bucket, Key=f"{prefix}/{sha[:2]}/{sha}")
        assert stored["Body"].read() == png(7)
    finally:
        assert server.stop() == 0, server.log.read_text()[-2000:]
    assert not home.exists() or not any(home.rglob("*.db"))
