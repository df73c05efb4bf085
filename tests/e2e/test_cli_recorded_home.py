"""A home written by the code of 2026-12-07 (tests/data/home-2026-12-07) still opens with the code as it stands: its
event topics resolve, its history, explanations and read models come back as they were recorded, and the
time-driven pass runs on it. Refactorings that rename a topic or a field break this test, not a user's home."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli import run

RECORDED = Path(__file__).resolve().parents[1] / "data" / "home-2026-12-07"
EVENTS = ["BaselineMeasured", "CanaryStarted", "CandidateTrained", "CandidateValidated", "Completed",
          "DatasetCurated", "Opened", "Promoted", "Registered", "ReviewCompleted", "ReviewDecided", "Started",
          "StepClaimed", "StrategyChosen", "Superseded", "ThresholdBreached", "ThresholdRecovered", "TrafficShifted",
          "TrainingStarted"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for name in ("events.db", "feedback.db"):
        with gzip.open(RECORDED / f"{name}.gz") as packed, (home / name).open("wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
    return home


def read(home: Path, *args: str) -> object:
    result = run(home, *args, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_the_recorded_history_reads_back_whole_with_every_event_topic(home: Path) -> None:
    history = read(home, "history")
    assert isinstance(history, list) and len(history) == 135
    assert sorted({event["event"] for event in history}) == EVENTS
    assert read(home, "views", "rebuild") == {"position": 135}  # every event replays into the read models again
    assert read(home, "history") == history


def test_the_recorded_versions_campaigns_and_rollout_explain_as_they_were(home: Path) -> None:
    models = {m["label"]: m["state"] for m in read(home, "models")}  # type: ignore[union-attr]
    assert models == {"v1": "superseded", "v2": "production", "v3": "validated"}  # v3: a candidate never rolled out
    campaigns = read(home, "campaigns")
    assert [c["state"] for c in campaigns] == ["completed", "completed", "completed", "awaiting_review"]  # type: ignore
    explained = read(home, "explain", "v2")
    assert isinstance(explained, dict)
    gates = {g["name"]: g["passed"] for g in explained["gates"]["gates"]}
    assert gates["validation_accuracy"] and gates["test_regression"]
    shifts = [s for s in explained["rollout_steps"] if s["event"] == "TrafficShifted"]
    assert [s["to_percent"] for s in shifts] == [10.0, 50.0, 100.0]
    text = run(home, "explain", "v2")
    assert text.returncode == 0 and "always-valid bounds" in text.stdout  # the evidence recorded then, told now


def test_the_time_driven_pass_runs_on_the_recorded_home(home: Path) -> None:
    ticked = run(home, "tick", "--now", "2026-01-12T00:00:00Z")
    assert ticked.returncode == 0, ticked.stderr[-2000:]
    assert "No decision taken." in ticked.stdout  # campaign 4 awaits its review; v2 serves everyone
    monitored = read(home, "monitor", "--now", "2026-01-12T00:00:00Z")
    [v2] = monitored["versions"]  # type: ignore[index]
    states = {(r["rule"], r["segment"]): r["state"] for r in v2["rules"]}
    assert states[("negative_comments", None)] == "breached" and states[("satisfaction", None)] == "ok"
