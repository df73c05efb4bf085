"""The main job on the engines a team already runs, by settings alone: both stores on PostgreSQL, blobs on S3."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.e2e.cli import run


def test_the_demo_and_the_reads_run_on_postgresql_and_s3_by_settings_alone(
    tmp_path: Path, postgres_url: str, s3_location: str, s3_endpoint: str,
) -> None:
    settings = {"RETRAIN_EVENT_STORE": postgres_url, "RETRAIN_FEEDBACK_STORE": postgres_url,
                "RETRAIN_BLOB_STORE": s3_location, "RETRAIN_S3__ENDPOINT_URL": s3_endpoint,
                **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}}
    home = tmp_path / "home"
    demo = run(home, "demo", "--seed", "0", settings=settings)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "The loop closed: v2 is in production" in demo.stdout
    assert not home.exists() or not any(home.rglob("*.db")), "a store was written to the home directory"

    verified = run(home, "models", "verify", "--json", settings=settings)
    assert verified.returncode == 0, verified.stderr
    assert {row["state"] for row in json.loads(verified.stdout)} == {"ok"}
    models = {m["label"]: m["state"] for m in json.loads(run(home, "models", "--json", settings=settings).stdout)}
    assert models["v2"] == "production"
    explained = run(home, "explain", "v2", settings=settings)
    assert explained.returncode == 0 and "validated against its parent" in explained.stdout
    report = json.loads(run(home, "forget", "--user", "user-007", "--json", settings=settings).stdout)
    assert report["deleted"]["predictions"] > 0
