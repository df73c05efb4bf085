"""Rule 4.2 after a campaign that produced no new version: when the breaches still open on production open the next
campaign (`campaigns.cooldown` after it ended), and what an operator who asks to retry such a campaign is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from application.ledger import Ledger
from domain.model_version import ModelVersion
from domain.payloads import CooldownRef
from domain.retrain_campaign import RetrainCampaign
from domain.rules.campaigns import REOPENING_OUTCOMES, CooldownVerdict, campaign_after_cooldown

OPEN_BY_HAND = "`retrain campaign open --reason ...`"


@dataclass(frozen=True)
class Reopening:
    """The cooldown rule's verdict for one version, and the campaign it was judged after (None: none yet)."""

    verdict: CooldownVerdict
    last: RetrainCampaign | None

    def evidence(self, cooldown: timedelta) -> CooldownRef:
        """What the new campaign's Opened event records: the campaign it follows and the cooldown that passed."""
        assert self.last is not None and self.last.outcome is not None
        return {"after_campaign": self.last.number, "outcome": self.last.outcome,
                "ended_at": ended_at(self.last).isoformat(), "cooldown_s": cooldown.total_seconds()}

    def reason(self, cooldown: timedelta) -> str:
        assert self.last is not None
        return (f"breaches still open {_duration(cooldown)} (campaigns.cooldown) after campaign {self.last.number} "
                f"ended with outcome {self.last.outcome}")


def reopening(ledger: Ledger, version: ModelVersion, now: datetime, cooldown: timedelta) -> Reopening:
    """Whether `version`'s breaches still open open a campaign now, judged after its latest campaign (the only one
    that can be active: a version has one active campaign at most, and a newer one opens only once it has ended)."""
    last = ledger.last_campaign_for(str(version.id))
    verdict = campaign_after_cooldown(
        version_state=version.state, open_breaches=len(version.open_breaches),
        has_open_campaign=last is not None and last.is_active, last_outcome=_ending(last),
        last_ended_at=ended_at(last) if last is not None and not last.is_active else None, now=now, cooldown=cooldown,
    )
    return Reopening(verdict, last)


def still_open_breaches(version: ModelVersion) -> list[dict[str, Any]]:
    """The version's open breaches as a campaign records them (`at` names their ThresholdBreached by its time)."""
    return [{"rule": b["rule"], "segment": b["segment"], "observed": b["observed"], "threshold": b["threshold"],
             "at": _iso(b["since"])} for b in version.open_breaches.values()]


def not_retryable(campaign: RetrainCampaign, version: ModelVersion, next_one: Reopening) -> str:
    """One sentence: why this campaign cannot be retried and, when it ended without a new version, what comes next."""
    if campaign.state != "completed" or campaign.outcome not in REOPENING_OUTCOMES:
        ended = f" with outcome {campaign.outcome}" if campaign.outcome else ""
        return f"cannot retry campaign {campaign.number}: it is {campaign.state}{ended}"
    said = f"cannot retry campaign {campaign.number}: it is completed with outcome {campaign.outcome}"
    latest = next_one.last
    if latest is not None and latest.is_active and latest.number != campaign.number:
        return f"{said}, and campaign {latest.number} is open on {version.label} now"
    if version.state != "production":
        return f"{said}; {version.label} is {version.state} now, so no campaign opens on it by itself"
    if next_one.verdict.opens_at is not None:
        return (f"{said}; a new campaign opens on the first tick after the cooldown ends at "
                f"{next_one.verdict.opens_at.isoformat(timespec='seconds')} while a breach is still open on "
                f"{version.label}, or at once with {OPEN_BY_HAND}")
    return f"{said}; no breach is open on {version.label} now: open a new campaign with {OPEN_BY_HAND}"


def ended_at(campaign: RetrainCampaign) -> datetime:
    """When a campaign ended (its last event, for a snapshot taken before campaigns recorded it)."""
    return getattr(campaign, "ended_at", None) or campaign.modified_on


def _ending(campaign: RetrainCampaign | None) -> str | None:
    if campaign is None or campaign.is_active:
        return None
    return campaign.outcome if campaign.state == "completed" else campaign.state


def _iso(moment: Any) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{span.total_seconds():g} s"
