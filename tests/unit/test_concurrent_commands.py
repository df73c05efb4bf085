"""Commands that save aggregates survive a concurrent writer: the save that loses the race is retried on fresh
state (optimistic concurrency), so both decisions are recorded, each once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    fired = lose_the_next_race(harness, lambda: harness.app.campaigns.decide(ref, "p-a", approve=True, label=None,
                                                                              actor="user:bob"))
    done = harness.app.campaigns.decide(ref, "p-b", approve=False, label=None, actor="user:alice")
    assert fired and done.review_completed
    assert sorted((r["actor"], r["details"]["decision"]) for r in events(harness, "ReviewDecided")) == [
        ("user:alice", "rejected"), ("user:bob", "approved")]
    assert len(events(harness, "ReviewCompleted")) == 1
    assert {i["prediction_id"]: i["decision"] for i in harness.app.campaigns.review_items(ref)} == {
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
