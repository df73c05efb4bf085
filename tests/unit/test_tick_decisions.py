"""`retrain tick` says what it decided: one decision per event of consequence that the pass recorded."""

from __future__ import annotations

from datetime import timedelta

from tests.harness import Harness, build_harness


def kinds(harness: Harness) -> list[tuple[str, str]]:
    return [(d.kind, d.subject) for d in harness.app.tick().decisions]


def breaching_v1() -> Harness:
    harness = build_harness()
    harness.register(production=True)
    harness.serve("v1", 100, satisfied=60)
    return harness


def test_a_tick_that_opens_and_ends_a_campaign_says_each_step_in_the_order_recorded() -> None:
    harness = breaching_v1()
    decisions = harness.app.tick().decisions
    assert [(d.kind, d.subject) for d in decisions] == [
        ("breach_recorded", "v1"), ("campaign_opened", "campaign 1"), ("items_curated", "campaign 1"),
        ("campaign_completed", "campaign 1")]
    breach, opened, curated, completed = (d.summary for d in decisions)
    assert breach == "satisfaction breached: observed 0.6 vs threshold 0.7"
    assert opened == "opened on v1 by the breach of satisfaction"
    assert curated.startswith("curated 0 items (0 train, 0 validation); excluded: ")
    assert completed == "completed with outcome insufficient_data (train_items 0, minimum 20)"
    assert {d.time for d in decisions} == {harness.clock.now().isoformat()}


def test_a_tick_with_nothing_to_decide_says_nothing() -> None:
    harness = breaching_v1()
    harness.app.tick()
    assert kinds(harness) == []


def test_the_tick_after_the_cooldown_says_why_the_next_campaign_opened() -> None:
    harness = breaching_v1()
    harness.app.tick()
    harness.clock.advance(timedelta(hours=24))
    decisions = harness.app.tick().decisions
    assert [(d.kind, d.subject) for d in decisions][:1] == [("campaign_opened", "campaign 2")]
    assert decisions[0].summary == ("opened on v1 after the cooldown: breaches still open 24 h (campaigns.cooldown) "
                                    "after campaign 1 ended with outcome insufficient_data")


def test_a_rollout_phase_without_enough_evidence_is_said_to_be_extended() -> None:
    harness = build_harness()
    parent = harness.register(production=True)
    candidate = harness.register(production=False)
    candidate.validate(parent_id=str(parent.id), gates=[], figures={}, actor="system:campaign",
                       timestamp=harness.clock.now())
    harness.app.ledger.save(candidate)
    harness.app.rollouts.start("v2", actor="user:ops")
    harness.clock.advance(timedelta(hours=24))
    decisions = harness.app.tick().decisions
    assert [(d.kind, d.subject, d.summary) for d in decisions] == [
        ("phase_extended", "rollout 1", "phase 1 extended: its evidence is not complete yet")]


def test_decisions_are_json_objects_with_the_four_fields_scripts_read() -> None:
    harness = breaching_v1()
    (first, *_) = harness.app.tick().decisions
    assert set(first.as_json()) == {"time", "kind", "subject", "summary"}
