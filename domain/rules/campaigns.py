"""Rule 4.2: a breach on the production version opens a campaign, or joins the one already open; after a campaign
that produced no new version, the breaches still open open the next one once the cooldown has passed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

CampaignAction = Literal["open", "attach", "ignore"]
# endings after which production is as it was: its breaches still open deserve another campaign
REOPENING_OUTCOMES = ("candidate_rejected", "insufficient_data")


def campaign_action_for_breach(version_state: str, has_open_campaign: bool) -> CampaignAction:
    """Production breaches open or attach; a canary's breaches belong to its rollout (4.7), others to nobody."""
    if version_state != "production":
        return "ignore"
    return "attach" if has_open_campaign else "open"


@dataclass(frozen=True)
class CooldownVerdict:
    """Whether the breaches still open open a campaign now, and when they do (None: not by themselves)."""

    opens: bool
    opens_at: datetime | None


def campaign_after_cooldown(
    *, version_state: str, open_breaches: int, has_open_campaign: bool, last_outcome: str | None,
    last_ended_at: datetime | None, now: datetime, cooldown: timedelta,
) -> CooldownVerdict:
    """The production version's breaches still open after its last campaign ended without a new version (candidate
    rejected, too few items) open a new campaign once `cooldown` has passed since that end, the boundary included.
    An abandoned campaign (an operator's decision) or a validated candidate (its rollout decides) opens nothing."""
    if version_state != "production" or not open_breaches or has_open_campaign:
        return CooldownVerdict(False, None)
    if last_outcome not in REOPENING_OUTCOMES or last_ended_at is None:
        return CooldownVerdict(False, None)
    opens_at = last_ended_at + cooldown
    return CooldownVerdict(now >= opens_at, opens_at)
