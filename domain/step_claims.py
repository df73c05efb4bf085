"""Claims on a retrain campaign's steps (`retrain worker`, SPEC 5.1): one worker at a time runs a step (curate,
train, validate), until its claim lapses, its holder is gone, or the step's outcome is recorded. RetrainCampaign's
commands and questions about its claims; the campaign records each claim with its StepClaimed event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypedDict

from domain.errors import IllegalTransition, StepAlreadyClaimed

STEPS = ("curate", "train", "validate")


class StepClaim(TypedDict):
    """Who runs a step, until when."""

    worker: str
    expires_at: datetime


class StepClaims:
    """The claims of a campaign (RetrainCampaign), by step."""

    # what the campaign provides: its number, its state and claims, its guard and its StepClaimed event
    number: int
    state: str
    claims: dict[str, StepClaim]
    _require: Callable[..., None]
    _step_claimed: Callable[[str, str, datetime, str, datetime], None]

    def claim_holder(self, step: str, now: datetime) -> str | None:
        """The worker whose claim on this step is still live at `now`, if any."""
        claim = getattr(self, "claims", {}).get(step)  # snapshots taken before claims existed have none
        return claim["worker"] if claim is not None and claim["expires_at"] > now else None

    def claim_step(self, *, step: str, worker: str, lease: timedelta, actor: str, timestamp: datetime,
                   holder_gone: bool = False) -> None:
        """One worker at a time runs a step (curate, train, validate); a claim lapses after its lease, or at once
        when its holder is known to be gone (its process no longer exists)."""
        if step not in STEPS:
            raise IllegalTransition(f"unknown campaign step {step!r}")
        self._require("open", "awaiting_review", "training", "validating", "failed", action=f"claim the {step} step of")
        holder = self.claim_holder(step, timestamp)
        if holder is not None and holder != worker and not holder_gone:
            raise StepAlreadyClaimed(f"the {step} step of campaign {self.number} is claimed by {holder}")
        self._step_claimed(step, worker, timestamp + lease, actor, timestamp)

    def _release(self, step: str) -> None:
        """A step's outcome is recorded: its claim has done its job."""
        getattr(self, "claims", {}).pop(step, None)
