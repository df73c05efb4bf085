"""kill -9 at random moments (SPEC 7, reliability), with real processes on SQLite and on PostgreSQL: afterwards the
stores open, `models verify` passes, a batch is all or nothing, nothing is left running, and the work resumes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.e2e.cli import CLASSES, RETRAIN, run
from tests.e2e.feedback_data import prediction

NOW = "2026-03-02T00:00:00Z"
TRIALS = 4


def engines(postgres: bool, request: pytest.FixtureRequest) -> dict[str, str]:
    if not postgres:
        return {}
    url = request.getfixturevalue("postgres_url")
    return {"RETRAIN_EVENT_STORE": url, "RETRAIN_FEEDBACK_STORE": url}


def start(home: Path, args: list[str], settings: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | settings
    return subprocess.Popen([str(RETRAIN), "--home", str(home), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=home.parent)


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def count_predictions(home: Path, settings: dict[str, str]) -> tuple[int, int]:
    query = "SELECT count(*), count(DISTINCT prediction_id) FROM predictions"
    if settings:
        with psycopg.connect(settings["RETRAIN_FEEDBACK_STORE"]) as connection:
            return connection.execute(query).fetchone()
    with sqlite3.connect(home / "feedback.db") as connection:
        return connection.execute(query).fetchone()


def register(home: Path, weights: Path, settings: dict[str, str]) -> None:
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z", settings=settings)
    assert registered.returncode == 0, registered.stderr


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_an_ingest_killed_at_a_random_moment_writes_all_or_nothing_and_leaves_no_worker(
        tmp_path: Path, weights: Path, postgres: bool, request: pytest.FixtureRequest) -> None:
    settings = engines(postgres, request)
    home = tmp_path / "home"
    register(home, weights, settings)
    rng = random.Random(20261202)
    stored = 0
    outcomes = []
    watched = 0
    for trial in range(TRIALS):
        size = 40_000
        batch = tmp_path / f"batch{trial}.jsonl"
        batch.write_text("".join(json.dumps(prediction(trial * 100_000 + i, i % 2 == 0)) + "\n" for i in range(size)))
        process = start(home, ["ingest", str(batch), "--now", NOW], settings)
        deadline = time.monotonic() + rng.uniform(1.0, 4.0)
        workers: set[int] = set()
        while time.monotonic() < deadline and process.poll() is None:
            workers.update(children(process.pid))
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(1.0)
        assert [pid for pid in workers if alive(pid)] == [], "a parsing worker outlived its killed ingest"
        watched += len(workers)

        count, distinct = count_predictions(home, settings)
        assert count == distinct and count - stored in (0, size), f"trial {trial}: {count - stored} of {size} written"
        outcomes.append("written" if count - stored == size else "nothing")
        verified = run(home, "models", "verify", settings=settings)
        assert verified.returncode == 0, verified.stderr
        again = run(home, "ingest", str(batch), "--json", "--now", NOW, settings=settings)  # the user runs it again
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["accepted"]["predictions"] + report["duplicates"] == size
        stored += size
        assert count_predictions(home, settings) == (stored, stored)
    assert watched > 0, "no parsing worker was seen: the check above checked nothing"
    print(f"ingest killed {TRIALS} times: {outcomes}; {watched} parsing workers seen, none left")
