"""As a new user: ingest feedback, see the breach, find it in the history; bad files change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import prediction


@pytest.fixture
def home(tmp_path: Path, weights: Path) -> Path:
    home = tmp_path / "home"
    done = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
               "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z")
    assert done.returncode == 0, done.stderr
    return home


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_69_satisfied_of_100_is_a_recorded_breach_that_opens_a_campaign_once(home: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "feedback.jsonl", [json.dumps(prediction(i, i < 69)) for i in range(100)])
    ingested = run(home, "ingest", str(data), "--now", "2026-03-02T00:00:00Z")
    assert ingested.returncode == 0, ingested.stderr
    assert "Accepted 100 predictions and 100 feedback" in ingested.stdout
    assert not (home / "feedback.db-wal").exists()  # the command closed its store: the log is in the database

    monitored = run(home, "monitor", "--json", "--now", "2026-03-02T00:00:00Z")
    assert monitored.returncode == 0, monitored.stderr
    [v1] = json.loads(monitored.stdout)["versions"]
    satisfaction = next(r for r in v1["rules"] if r["rule"] == "satisfaction")
    assert (satisfaction["state"], satisfaction["observed"], satisfaction["threshold"]) == ("breached", 0.69, 0.7)

    history = json.loads(run(home, "history", "--json").stdout)
    breach = next(e for e in history if e["event"] == "ThresholdBreached")
    assert (breach["details"]["rule"], breach["details"]["observed"], breach["details"]["threshold"]) == (
        "satisfaction", 0.69, 0.7)
    assert breach["actor"] == "system:monitor"
    assert [e["event"] for e in history if e["aggregate"] == "RetrainCampaign"] == ["Opened"]

    assert run(home, "monitor", "--now", "2026-03-02T01:00:00Z").returncode == 0
    assert json.loads(run(home, "history", "--json").stdout) == history
    campaigns = json.loads(run(home, "campaigns", "--json").stdout)
    assert [(c["version"], c["state"], c["breaches"][0]["rule"]) for c in campaigns] == [("v1", "open", "satisfaction")]


def test_one_malformed_line_in_10000_changes_nothing_and_is_named(home: Path, tmp_path: Path) -> None:
    lines = [json.dumps(prediction(i, True)) for i in range(10_000)]
    lines[6_789] = lines[6_789][:-5]
    data = write(tmp_path / "big.jsonl", lines)
    refused = run(home, "ingest", str(data), "--now", "2026-03-02T00:00:00Z")
    assert refused.returncode == 2
    assert "line 6790: malformed JSON" in refused.stderr
    assert "Traceback" not in refused.stderr
    monitor = json.loads(run(home, "monitor", "--json", "--now", "2026-03-02T00:00:00Z").stdout)
    assert next(r for r in monitor["versions"][0]["rules"] if r["rule"] == "satisfaction")["window"] == 0

    rejects = tmp_path / "rejects.jsonl"
    landed = run(home, "ingest", str(data), "--skip-invalid", "--rejects", str(rejects), "--json",
                 "--now", "2026-03-02T00:00:00Z")
    assert landed.returncode == 0, landed.stderr
    report = json.loads(landed.stdout)
    assert report["accepted"] == {"predictions": 9_999, "feedback": 9_999}
    assert report["rejected"] == 1 and report["errors"][0]["line"] == 6_790
    assert rejects.read_text() == lines[6_789] + "\n"

    again = json.loads(run(home, "ingest", str(data), "--skip-invalid", "--json", "--now",
                           "2026-03-02T00:00:00Z").stdout)
    assert again["duplicates"] == 9_999 and again["accepted"] == {"predictions": 0, "feedback": 0}
