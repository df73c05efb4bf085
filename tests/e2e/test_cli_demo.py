"""`retrain demo` as a new user runs it: the whole procedure, and an exit code that says whether the loop closed."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import run

# What differs between two runs of the same seed by nature: ids, when an event was written, how long something took
# on this machine, and the latency this process measured (the demo's verdicts use the simulated users' latency).
WALL_CLOCK_AND_IDS = {"event_id", "aggregate_id", "recorded_at", "seconds", "measured_ms", "worker", "holder",
                      "claimed_until"}


def canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if k not in WALL_CLOCK_AND_IDS and not k.endswith("_id")}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One `retrain demo --seed 0`, its history as it stood when the demo ended, and the version it promoted."""
    home = tmp_path_factory.mktemp("demo") / "demo-home"
    result = run(home, "demo", "--seed", "0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    closed = re.search(r"The loop closed: (v\d+) is in production; against v1 it gains ([+-][\d.]+) points on "
                       r"drifted images and ([+-][\d.]+) on clean ones", result.stdout)
    assert closed, result.stdout[-2000:]
    assert float(closed.group(2)) >= 20 and float(closed.group(3)) >= -1  # SPEC 10's demo row
    assert "Traceback" not in result.stderr
    # the story tells why each phase moved on: the candidate against the stable version, with always-valid bounds
    assert re.search(r"10% -> 50% \(phase 1 healthy\); health: satisfaction [\d.]+ vs stable [\d.]+ over \d+/\d+: "
                     r"difference [+-][\d.]+, always-valid bounds \(each one-sided [\d.]+%\)", result.stdout)
    return home, run(home, "history", "--json").stdout, closed.group(1)


def test_the_same_seed_gives_the_same_history(demo: tuple[Path, str, str], tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run(again, "demo", "--seed", "0").returncode == 0
    first, second = (json.loads(text) for text in (demo[1], run(again, "history", "--json").stdout))
    assert len(first) == len(second)
    for one, other in zip(first, second, strict=True):
        assert canonical(one) == canonical(other), (one["position"], one["event"])


def test_the_demo_closes_the_loop_and_leaves_an_inspectable_home(demo: tuple[Path, str, str]) -> None:
    home, _, promoted = demo
    events = json.loads(run(home, "history", "--json").stdout)
    names = [e["event"] for e in events]
    for expected in ("ThresholdBreached", "Opened", "DatasetCurated", "ReviewCompleted", "StrategyChosen",
                     "CandidateTrained", "CandidateValidated", "TrafficShifted", "Promoted", "Superseded"):
        assert expected in names, expected
    models = {m["label"]: m["state"] for m in json.loads(run(home, "models", "--json").stdout)}
    assert models["v1"] == "superseded" and models[promoted] == "production"

    # As of a moment in the promoted version's 10% phase, the state as it was known then.
    shifts = [e for e in events if e["event"] == "TrafficShifted" and e["version"] == promoted]
    ten = next(i for i, e in enumerate(shifts) if e["details"]["to_percent"] == 10)
    start, end = (datetime.fromisoformat(shifts[i]["time"]) for i in (ten, ten + 1))
    moment = (start + (end - start) / 2).isoformat()
    then = {m["label"]: m["state"] for m in json.loads(run(home, "models", "--as-of", moment, "--json").stdout)}
    assert (then["v1"], then[promoted]) == ("production", "canary")
    status = json.loads(run(home, "rollout", "status", "--as-of", moment, "--json").stdout)
    assert (status["candidate"], status["stable"], status["percent"]) == (promoted, "v1", 10)
    before_anything = datetime.fromisoformat(events[0]["time"]) - timedelta(days=1)
    assert json.loads(run(home, "campaigns", "--as-of", before_anything.isoformat(), "--json").stdout) == []

    # The read models rebuilt from the log give the same answers.
    listed = run(home, "models", "--json").stdout
    rebuilt = json.loads(run(home, "views", "rebuild", "--json").stdout)
    assert rebuilt["position"] == len(events) and run(home, "models", "--json").stdout == listed

    # The right to be forgotten: no file of the home names the user any more; a second run changes nothing.
    report = json.loads(run(home, "forget", "--user", "user-007", "--json").stdout)
    assert report["deleted"]["predictions"] > 0 and report["deleted"]["feedback"] > 0
    assert all(b"user-007" not in path.read_bytes() for path in home.rglob("*") if path.is_file())
    again = json.loads(run(home, "forget", "--user", "user-007", "--json").stdout)
    assert again == {"deleted": {"predictions": 0, "feedback": 0, "images": 0, "review_items": 0},
                     "datasets_amended": [], "consumed_by": {"datasets": [], "versions": []}}


def test_the_demo_refuses_a_home_that_holds_data(tmp_path: Path) -> None:
    home = tmp_path / "used"
    home.mkdir()
    (home / "events.db").write_bytes(b"")
    result = run(home, "demo")
    assert result.returncode == 2
    assert "needs a fresh home" in result.stderr
