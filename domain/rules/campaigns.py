"""Rule 4.2: a breach on the production version opens a campaign, or joins the one already open."""

from __future__ import annotations

from typing import Literal

CampaignAction = Literal["open", "attach", "ignore"]


def campaign_action_for_breach(version_state: str, has_open_campaign: bool) -> CampaignAction:
    """Production breaches open or attach; a canary's breaches belong to its rollout (4.7), others to nobody."""
    if version_state != "production":
        return "ignore"
    return "attach" if has_open_campaign else "open"
