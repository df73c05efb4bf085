"""The verdict a trigger rule returns, with the evidence an event records."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from domain.payloads import BreachEvidence

RuleState = Literal["ok", "breached", "not_evaluated"]


@dataclass(frozen=True)
class TriggerVerdict:
    """One rule evaluated over one window: its state, the observed value and the window it used."""

    rule: str
    state: RuleState
    threshold: float
    observed: float | None = None
    window: int = 0
    segment: str | None = None
    evidence: BreachEvidence = field(default_factory=BreachEvidence)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.rule, self.segment)

    @property
    def breached(self) -> bool:
        return self.state == "breached"


def exact(value: float) -> Fraction:
    """A threshold as the decimal its user wrote (0.7 is 7/10, not the nearest binary float)."""
    return Fraction(str(value))


def rate(part: int, whole: int) -> float:
    return round(part / whole, 6)
