"""Commands that save aggregates survive a concurrent writer: the save that loses the race is retried on fresh
state (optimistic concurrency), so both decisions are recorded, each once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from domain.rules.validation_gates import ModelFigures
from tests.harness import Harness, build_harness
from tests.steps.curation_steps import Answer, Images, labelled_answers, write_answers
from tests.steps.rollout_steps import make_candidate


def lose_the_next_race(harness: Harness, competitor: Callable[[], Any]) -> list[bool]:
    """Just before the next save, another process (the competitor) saves first, once."""
    ledger = harness.app.ledger
    original, fired = ledger.save, []

    def save(*aggregates: Any, **options: Any) -> Any:
        if not fired:
            fired.append(True)
            competitor()
        return original(*aggregates, **options)

    ledger.save = save  # type: ignore[method-assign]
    return fired


def events(harness: Harness, name: str) -> list[dict[str, Any]]:
    return [row for row in harness.app.audit.history() if row["event"] == name]


def test_a_review_decision_racing_another_reviewer_is_retried_and_both_are_kept() -> None:
    harness = build_harness()
    harness.register()
    images = Images()
    labelled_answers(harness, images, "v1", 20, "train")
    write_answers(harness, images, "v1", [Answer("p-a", corrected_label="3", confidence=0.95),
                                          Answer("p-b", corrected_label="4", confidence=0.95)])
    campaign = harness.app.campaigns.open(reason="wrong labels", actor="user:olivia")
    campaign = harness.app.campaigns.curate(str(campaign.id))
    assert len(campaign.pending_review) == 2
    ref = str(campaign.id)
    fired = lose_the_next_race(harness, lambda: harness.app.review.decide(ref, "p-a", approve=True, label=None,
                                                                          actor="user:bob"))
    done = harness.app.review.decide(ref, "p-b", approve=False, label=None, actor="user:alice")
    assert fired and done.review_completed
    assert sorted((r["actor"], r["details"]["decision"]) for r in events(harness, "ReviewDecided")) == [
        ("user:alice", "rejected"), ("user:bob", "approved")]
    assert len(events(harness, "ReviewCompleted")) == 1
    assert {i["prediction_id"]: i["decision"] for i in harness.app.review.items(ref)} == {
        "p-a": "approved", "p-b": "rejected"}


def test_a_pause_racing_a_promotion_pauses_the_promoted_phase() -> None:
    harness = build_harness()
    harness.register()
    make_candidate(harness, "v2")
    harness.app.rollouts.start("v2", actor="user:ops")
    fired = lose_the_next_race(harness, lambda: harness.app.rollouts.promote_now(reason="go", actor="user:bob"))
    paused = harness.app.rollouts.pause(reason="look closer", actor="user:alice")
    assert fired and (paused.state, paused.percent) == ("paused", 50)
    assert [r["actor"] for r in events(harness, "Paused")] == ["user:alice"]
    assert [r["details"]["to_percent"] for r in events(harness, "TrafficShifted")] == [10, 50]


def test_a_breach_another_server_recorded_first_is_neither_recorded_nor_logged_again() -> None:
    """Two servers' loops evaluate at once: the one that loses the race retries on fresh state and finds nothing to
    record, so its log claims no breach and no campaign either (before the fix, both servers logged them)."""
    harness = build_harness()
    harness.register()
    harness.serve("v1", 100, satisfied=60, image_type="scan")
    with capture_logs() as logged:
        fired = lose_the_next_race(harness, harness.app.monitoring.evaluate)  # the other server, just before us
        harness.app.monitoring.evaluate()
    assert fired
    breaches = [(e["details"]["rule"], e["details"]["segment"]) for e in events(harness, "ThresholdBreached")]
    assert breaches == [("satisfaction", None), ("image_type", "scan")]
    assert len(events(harness, "Opened")) == 1
    said = [(e["event"], e.get("rule")) for e in logged if e["event"] in ("threshold_breached", "campaign_opened")]
    assert sorted(said, key=str) == sorted([("threshold_breached", "satisfaction"),
                                            ("threshold_breached", "image_type"), ("campaign_opened", None)], key=str)


def test_two_promotions_at_once_log_each_shift_once() -> None:
    """Two operators promote at once: both shifts are recorded, and the log names each once (before the fix, the
    losing attempt logged a shift to 50% that the other operator had made, then its own)."""
    harness = build_harness()
    harness.register()
    make_candidate(harness, "v2")
    harness.app.rollouts.start("v2", actor="user:ops")
    with capture_logs() as logged:
        fired = lose_the_next_race(harness, lambda: harness.app.rollouts.promote_now(reason="go", actor="user:bob"))
        harness.app.rollouts.promote_now(reason="go on", actor="user:alice")
    assert fired
    assert [r["details"]["to_percent"] for r in events(harness, "TrafficShifted")] == [10, 50, 100]
    assert [(e["event"], e.get("percent")) for e in logged if e["event"] in ("traffic_shifted", "candidate_promoted")
            ] == [("traffic_shifted", 50), ("candidate_promoted", None)]


def lose_the_race_when_recording(harness: Harness, event: str, competitor: Callable[[], Any]) -> list[bool]:
    """Just before the first save that records `event`, another process (the competitor) saves first, once."""
    ledger = harness.app.ledger
    original, fired = ledger.save, []

    def save(*aggregates: Any, **options: Any) -> Any:
        pending = {type(e).__name__ for aggregate in aggregates for e in aggregate.pending_events}
        if not fired and event in pending:
            fired.append(True)
            competitor()
        return original(*aggregates, **options)

    ledger.save = save  # type: ignore[method-assign]
    return fired


@pytest.mark.parametrize("step", ["DatasetCurated", "TrainingStarted", "CandidateValidated"])
def test_a_breach_attached_while_a_worker_runs_a_step_keeps_its_work_and_its_one_claim(step: str) -> None:
    """The monitor (on a server) attaches a breach to the campaign while a worker curates, starts training or judges
    the candidate: the worker records its outcome on the fresh campaign. Before the fix its save failed, the work was
    lost, and the worker claimed and ran the step a second time (two StepClaimed for curate, seen with two servers
    and two workers on PostgreSQL)."""
    harness = build_harness(review={"required": False})
    harness.register()
    labelled_answers(harness, Images(), "v1", 40, None)
    harness.evaluator.figures["v2"] = ModelFigures(validation_accuracy=0.9, test_accuracy=0.97, latency_ms=1.0)
    ref = str(harness.app.campaigns.open(reason="new phone cameras", actor="user:ops").id)

    def attach_a_breach() -> None:
        campaign = harness.app.ledger.campaign(ref)
        campaign.attach_breach(breach={"rule": "latency", "segment": None, "observed": 30.0, "threshold": 15.0},
                               actor="system:monitor", timestamp=harness.clock.now())
        harness.app.ledger.save(campaign)

    fired = lose_the_race_when_recording(harness, step, attach_a_breach)
    done = harness.app.campaigns.advance(ref, worker="worker:node-a:101")
    assert fired
    assert (done.state, done.outcome) == ("completed", "candidate_validated")
    history = [r for r in harness.app.audit.history() if r["aggregate"] == "RetrainCampaign"]
    claims = [r["details"]["step"] for r in history if r["event"] == "StepClaimed"]
    assert claims == ["curate", "train", "validate"]
    once = ("DatasetCurated", "TrainingStarted", "CandidateTrained", "BreachAttached", "Completed")
    assert Counter(r["event"] for r in history if r["event"] in once) == dict.fromkeys(once, 1)
    assert len(events(harness, "CandidateValidated")) == 1
