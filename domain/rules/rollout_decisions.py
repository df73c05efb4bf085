"""Rule 4.7: what a rollout does on each tick — roll back, advance, extend, pause, or wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from domain.rules.phase_health import PhaseHealth

RolloutDecision = Literal["roll_back", "advance", "extend", "pause", "wait"]


def decide_phase(
    health: PhaseHealth, *, elapsed: timedelta, duration: timedelta, already_extended: bool, pause_after_factor: float
) -> RolloutDecision:
    """A failed check rolls back at once; at the phase's end, healthy advances, else extend, then pause at 2x."""
    if health.failed:
        return "roll_back"
    if elapsed < duration:
        return "wait"
    if health.enough_evidence:
        return "advance"
    if elapsed >= duration * pause_after_factor:
        return "pause"
    return "wait" if already_extended else "extend"
