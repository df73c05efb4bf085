"""Several `retrain` processes on one PostgreSQL database at once (SPEC 7, concurrency): four ticks and an ingest
racing each other record each fact once and lose no acknowledged record."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import psycopg

from tests.e2e.cli import CLASSES, RETRAIN, run
from tests.e2e.feedback_data import prediction

NOW = "2026-03-02T00:00:00Z"


def test_four_ticks_and_an_ingest_at_once_record_each_fact_once(tmp_path: Path, postgres_url: str,
                                                                 weights: Path) -> None:
    settings = {"RETRAIN_EVENT_STORE": postgres_url, "RETRAIN_FEEDBACK_STORE": postgres_url}
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z", settings=settings)
    assert registered.returncode == 0, registered.stderr
    rated = tmp_path / "rated.jsonl"
    rated.write_text("".join(json.dumps(prediction(i, i < 69)) + "\n" for i in range(100)))  # 69 % satisfied
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps(prediction(i)) + "\n" for i in range(10_000, 15_000)))
    feed = run(home, "ingest", str(rated), "--now", "2026-02-28T00:00:00Z", settings=settings)  # seen from before
    assert feed.returncode == 0, feed.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | settings
    commands = [["tick", "--now", NOW]] * 4 + [["ingest", str(more), "--now", NOW]]
    processes = [subprocess.Popen([str(RETRAIN), "--home", str(home), *args], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for args in commands]
    outcomes = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in processes]
    assert all(code == 0 for code, _ in outcomes), outcomes
    assert all("Traceback" not in err for _, err in outcomes)

    history = json.loads(run(home, "history", "--json", settings=settings).stdout)
    breaches = [e for e in history if e["event"] == "ThresholdBreached"]
    assert sorted((e["version"], e["details"]["rule"], e["details"]["segment"]) for e in breaches) == [
        ("v1", "image_type", "scan"), ("v1", "satisfaction", None)]  # each breach once, whoever saw it first
    per_event = Counter(e["event"] for e in history if e["aggregate"] == "RetrainCampaign" and e["event"] != "StepClaimed")
    assert per_event["Opened"] == 1 and all(count == 1 for count in per_event.values()), per_event
    with psycopg.connect(postgres_url) as connection:
        stored = connection.execute("SELECT count(*), count(DISTINCT prediction_id) FROM predictions").fetchone()
    assert stored == (5_100, 5_100)
