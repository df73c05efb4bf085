"""As a user: `retrain tick` says what it decided, one line each (and `--json` lists them), through a campaign whose
candidate is rejected; the campaign ends completed with outcome candidate_rejected, `campaign retry` says what comes
next, and the breach still open opens the next campaign once `campaigns.cooldown` has passed, not a second before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import CURATED_AT, INGESTED_AT, crafted

TRAINED_AT = "2026-03-02T03:00:00Z"
COOLDOWN_ENDS = "2026-03-03T03:00:00+00:00"  # the default cooldown, 24 hours after the candidate was rejected
# A latency gate no candidate passes, so the candidate is rejected whatever the training gives; a short training.
REJECTING = {"RETRAIN_VALIDATION__LATENCY_FACTOR": "0.000001", "RETRAIN_VALIDATION__LATENCY_CALLS": "5",
             "RETRAIN_TRAINING__FINE_TUNE_SMALL_SET_MAX_EPOCHS": "2",
             "RETRAIN_TRAINING__FINE_TUNE_LEARNING_RATE_CANDIDATES": "[]"}


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


@pytest.fixture
def home(tmp_path: Path, weights: Path) -> Path:
    home = tmp_path / "home"
    ok(run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
           "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z"))
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text("".join(json.dumps(record) + "\n" for record in crafted().records))
    ok(run(home, "ingest", str(feedback), "--now", INGESTED_AT))
    return home


def decisions_of(home: Path, now: str) -> list[dict[str, Any]]:
    document = json.loads(ok(run(home, "tick", "--now", now, "--json", settings=REJECTING)))
    assert {"monitor", "rollout", "decisions"} <= set(document)
    return list(document["decisions"])


def test_tick_tells_each_decision_through_a_rejected_candidate_and_the_cooldown_that_follows(home: Path) -> None:
    printed = ok(run(home, "tick", "--now", CURATED_AT, settings=REJECTING)).splitlines()
    [campaign] = json.loads(ok(run(home, "campaigns", "--json")))  # opened by the breach the ingestion found
    dataset, excluded = campaign["dataset"], campaign["dataset"]["excluded"]
    assert printed[-2:] == [  # after the monitor's table
        f"campaign 1: curated {dataset['included']} items ({dataset['train_items']} train, "
        f"{dataset['validation_items']} validation); excluded: {', '.join(f'{k} {v}' for k, v in excluded.items())}",
        f"campaign 1: {dataset['awaiting_review']} items await a reviewer: `retrain review list 1`"]

    for row in json.loads(ok(run(home, "review", "list", "1", "--json"))):
        ok(run(home, "review", "decide", "1", row["item"], "--approve"))
    decisions = decisions_of(home, TRAINED_AT)
    assert [(d["kind"], d["subject"]) for d in decisions] == [
        ("strategy_chosen", "campaign 1"), ("training_started", "campaign 1"), ("training_finished", "campaign 1"),
        ("candidate_rejected", "v2"), ("campaign_completed", "campaign 1")]
    assert {d["time"] for d in decisions} == {"2026-03-02T03:00:00+00:00"}
    history = json.loads(ok(run(home, "history", "--json")))
    (rejected,) = [e["details"] for e in history if e["event"] == "CandidateRejected"]
    assert rejected["failed_gates"] and all(gate in decisions[3]["summary"] for gate in rejected["failed_gates"])
    assert decisions[3]["summary"].startswith("rejected against v1: ")
    assert decisions[2]["summary"].startswith("v2 trained in ")
    assert decisions[4]["summary"] == "completed with outcome candidate_rejected"

    [campaign] = json.loads(ok(run(home, "campaigns", "--json")))
    assert (campaign["state"], campaign["outcome"]) == ("completed", "candidate_rejected")
    assert "completed (candidate_rejected)" in ok(run(home, "campaigns"))
    retried = run(home, "campaign", "retry", "1")
    assert retried.returncode == 1
    assert retried.stderr.splitlines() == [
        "retrain: cannot retry campaign 1: it is completed with outcome candidate_rejected; a new campaign opens on "
        f"the first tick after the cooldown ends at {COOLDOWN_ENDS} while a breach is still open on v1, or at once "
        "with `retrain campaign open --reason ...`"]

    assert ok(run(home, "tick", "--now", "2026-03-03T02:59:59Z")).splitlines()[-1] == "No decision taken."
    after = decisions_of(home, "2026-03-03T03:00:00Z")
    assert (after[0]["kind"], after[0]["subject"]) == ("campaign_opened", "campaign 2")
    assert after[0]["summary"] == ("opened on v1 after the cooldown: breaches still open 24 h (campaigns.cooldown) "
                                   "after campaign 1 ended with outcome candidate_rejected")
    campaigns = json.loads(ok(run(home, "campaigns", "--json")))
    assert [c["number"] for c in campaigns] == [1, 2]
    assert campaigns[1]["cooldown"]["after_campaign"] == 1
    assert [b["rule"] for b in campaigns[1]["breaches"]] == [b["rule"] for b in campaigns[0]["breaches"]]
