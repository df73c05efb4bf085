"""Rule 4.2 after a campaign that changed nothing: the breaches still open on production open the next campaign once
`campaigns.cooldown` has passed since it ended (at the boundary included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.rules.campaigns import REOPENING_OUTCOMES, campaign_after_cooldown

ENDED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def after(elapsed: timedelta, **overrides: Any) -> Any:
    situation: dict[str, Any] = {"version_state": "production", "open_breaches": 1, "has_open_campaign": False,
                                 "last_outcome": "candidate_rejected", "last_ended_at": ENDED}
    return campaign_after_cooldown(**(situation | overrides), now=ENDED + elapsed, cooldown=DAY)


def test_one_second_before_the_cooldown_has_passed_no_campaign_opens() -> None:
    verdict = after(DAY - timedelta(seconds=1))
    assert (verdict.opens, verdict.opens_at) == (False, ENDED + DAY)


def test_when_the_cooldown_has_just_passed_a_campaign_opens() -> None:
    verdict = after(DAY)
    assert (verdict.opens, verdict.opens_at) == (True, ENDED + DAY)


def test_long_after_the_cooldown_a_campaign_opens() -> None:
    assert after(DAY + timedelta(days=3)).opens


def test_a_cooldown_of_zero_opens_the_next_campaign_at_once() -> None:
    verdict = campaign_after_cooldown(version_state="production", open_breaches=2, has_open_campaign=False,
                                      last_outcome="candidate_rejected", last_ended_at=ENDED, now=ENDED,
                                      cooldown=timedelta(0))
    assert verdict.opens


@pytest.mark.parametrize("outcome", REOPENING_OUTCOMES)
def test_a_campaign_that_ended_without_a_new_version_is_followed_by_another(outcome: str) -> None:
    assert after(DAY, last_outcome=outcome).opens


@pytest.mark.parametrize("outcome", ["candidate_validated", "abandoned"])
def test_a_validated_candidate_or_an_abandoned_campaign_opens_nothing_by_itself(outcome: str) -> None:
    verdict = after(DAY * 30, last_outcome=outcome)
    assert (verdict.opens, verdict.opens_at) == (False, None)


def test_without_a_breach_still_open_nothing_opens() -> None:
    assert (after(DAY, open_breaches=0).opens, after(DAY, open_breaches=0).opens_at) == (False, None)


def test_a_campaign_still_open_is_not_doubled() -> None:
    assert not after(DAY, has_open_campaign=True).opens


@pytest.mark.parametrize("state", ["canary", "validated", "superseded", "rolled_back"])
def test_only_the_production_version_opens_a_campaign(state: str) -> None:
    assert not after(DAY, version_state=state).opens


def test_a_version_without_an_earlier_campaign_is_left_to_its_next_breach() -> None:
    assert not after(DAY, last_outcome=None, last_ended_at=None).opens
