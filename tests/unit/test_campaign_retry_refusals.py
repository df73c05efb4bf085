"""`campaign retry` on a campaign that has ended is refused in one sentence that says what comes next."""

from __future__ import annotations

import pytest

from domain.errors import IllegalTransition
from tests.harness import Harness, build_harness


def ended_for_lack_of_items() -> Harness:
    """v1 breaches; its campaign finds no usable item and ends `insufficient_data` at 2026-01-01T00:00."""
    harness = build_harness()
    harness.register(production=True)
    harness.serve("v1", 100, satisfied=60)
    harness.app.tick()
    assert harness.app.ledger.campaign("1").outcome == "insufficient_data"
    return harness


def refusal(harness: Harness, campaign: str = "1") -> str:
    with pytest.raises(IllegalTransition) as refused:
        harness.app.campaigns.retry(campaign, actor="user:ops")
    return str(refused.value)


def test_while_a_breach_is_open_the_refusal_says_when_the_cooldown_ends() -> None:
    assert refusal(ended_for_lack_of_items()) == (
        "cannot retry campaign 1: it is completed with outcome insufficient_data; a new campaign opens on the first "
        "tick after the cooldown ends at 2026-01-02T00:00:00+00:00 while a breach is still open on v1, or at once "
        "with `retrain campaign open --reason ...`")


def test_the_cooldown_end_follows_the_setting() -> None:
    harness = build_harness(campaigns={"cooldown": 3600})
    harness.register(production=True)
    harness.serve("v1", 100, satisfied=60)
    harness.app.tick()
    assert "the cooldown ends at 2026-01-01T01:00:00+00:00 " in refusal(harness)


def test_once_a_newer_campaign_is_open_the_refusal_names_it() -> None:
    harness = ended_for_lack_of_items()
    harness.app.campaigns.open(reason="more feedback came in", actor="user:ops")
    assert refusal(harness) == ("cannot retry campaign 1: it is completed with outcome insufficient_data, and "
                                "campaign 2 is open on v1 now")


def test_once_the_breach_has_recovered_the_refusal_says_no_campaign_will_open_by_itself() -> None:
    harness = ended_for_lack_of_items()
    harness.serve("v1", 100, satisfied=90)
    harness.app.monitoring.evaluate()
    assert refusal(harness) == ("cannot retry campaign 1: it is completed with outcome insufficient_data; no breach "
                                "is open on v1 now: open a new campaign with `retrain campaign open --reason ...`")


def test_an_abandoned_campaign_is_refused_as_before() -> None:
    harness = build_harness()
    harness.register(production=True)
    harness.app.campaigns.open(reason="odd scans", actor="user:ops")
    harness.app.campaigns.abandon("1", reason="not drift", actor="user:ops")
    assert refusal(harness) == "cannot retry campaign 1: it is abandoned"
