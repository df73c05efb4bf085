"""Several `retrain` processes on one PostgreSQL database at once (SPEC 7, concurrency): four ticks and an ingest
racing each other record each fact once and lose no acknowledged record."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.conftest import new_postgres_database
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
    per_event = Counter(e["event"] for e in history
                        if e["aggregate"] == "RetrainCampaign" and e["event"] != "StepClaimed")
    assert per_event["Opened"] == 1 and all(count == 1 for count in per_event.values()), per_event
    with psycopg.connect(postgres_url) as connection:
        stored = connection.execute("SELECT count(*), count(DISTINCT prediction_id) FROM predictions").fetchone()
    assert stored == (5_100, 5_100)


def _engines(postgres: bool, request: pytest.FixtureRequest) -> dict[str, str]:
    if not postgres:
        return {}
    url = request.getfixturevalue("postgres_url")
    return {"RETRAIN_EVENT_STORE": url, "RETRAIN_FEEDBACK_STORE": url}


def _at_once(home: Path, commands: list[list[str]], settings: dict[str, str]) -> list[tuple[int, str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | settings
    processes = [subprocess.Popen([str(RETRAIN), "--home", str(home), *args], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=home.parent) for args in commands]
    return [(p.wait(timeout=300), *p.communicate()) for p in processes]


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_commands_started_at_once_on_a_fresh_store_all_succeed(tmp_path: Path, postgres: bool,
                                                               request: pytest.FixtureRequest) -> None:
    """Each command migrates the store at start; four at once on a fresh one raced ('table alembic_version already
    exists') in 2 runs of 3. Three rounds, each on a fresh store."""
    for round_ in range(3):
        settings = _engines(postgres, request) if round_ == 0 or not postgres else _fresh(request)
        home = tmp_path / f"home{round_}"
        outcomes = _at_once(home, [["models", "--json"]] * 4, settings)
        assert [code for code, _, _ in outcomes] == [0, 0, 0, 0], outcomes
        assert all(json.loads(out) == [] for _, out, _ in outcomes)


def _fresh(request: pytest.FixtureRequest) -> dict[str, str]:
    """Another fresh PostgreSQL database for both stores (the fixture gives one per test)."""
    url = new_postgres_database(request)
    return {"RETRAIN_EVENT_STORE": url, "RETRAIN_FEEDBACK_STORE": url}


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_two_ingests_of_overlapping_records_at_once_store_each_once_and_count_the_rest_as_duplicates(
        tmp_path: Path, weights: Path, postgres: bool, request: pytest.FixtureRequest) -> None:
    """Both files hold records 3,000-5,999; each ingest either writes them or counts them as duplicates (it failed
    with 'UNIQUE constraint failed' in 3 runs of 6). Three rounds."""
    settings = _engines(postgres, request)
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z", settings=settings)
    assert registered.returncode == 0, registered.stderr
    total = 0
    for round_ in range(3):
        offset = round_ * 10_000
        files = []
        for name, ids in (("a", range(offset, offset + 6_000)), ("b", range(offset + 3_000, offset + 9_000))):
            path = tmp_path / f"{name}{round_}.jsonl"
            path.write_text("".join(json.dumps(prediction(i, i % 3 == 0)) + "\n" for i in ids))
            files.append(path)
        outcomes = _at_once(home, [["ingest", str(f), "--json", "--now", NOW] for f in files], settings)
        assert [code for code, _, _ in outcomes] == [0, 0], outcomes
        reports = [json.loads(out) for _, out, _ in outcomes]
        assert sum(r["accepted"]["predictions"] for r in reports) == 9_000
        # a duplicate record counts once, with its inline feedback
        assert sum(r["duplicates"] for r in reports) == 3_000
        total += 9_000
    history = run(home, "models", "--json", settings=settings)
    assert history.returncode == 0
    if postgres:
        with psycopg.connect(settings["RETRAIN_FEEDBACK_STORE"]) as connection:
            stored = connection.execute("SELECT count(*), count(DISTINCT prediction_id) FROM predictions").fetchone()
    else:
        import sqlite3

        with sqlite3.connect(home / "feedback.db") as connection:
            stored = connection.execute("SELECT count(*), count(DISTINCT prediction_id) FROM predictions").fetchone()
    assert stored == (total, total)
