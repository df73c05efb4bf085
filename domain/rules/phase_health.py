"""Rule 4.7: the health of a rollout phase, from the candidate's predictions in that phase only."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from domain.policy import RolloutPolicy
from domain.rules.verdicts import exact

CheckState = Literal["ok", "failed", "insufficient"]


@dataclass(frozen=True)
class PhaseStats:
    """One version's traffic in the current phase."""

    predictions: int = 0
    errors: int = 0
    rated: int = 0
    satisfied: int = 0
    mean_latency_ms: float | None = None
    ok_predictions: int = 0


@dataclass(frozen=True)
class HealthCheck:
    name: str
    state: CheckState
    observed: float | None
    threshold: float
    samples: int


@dataclass(frozen=True)
class PhaseHealth:
    checks: list[HealthCheck]

    @property
    def failed(self) -> list[HealthCheck]:
        return [check for check in self.checks if check.state == "failed"]

    @property
    def enough_evidence(self) -> bool:
        return all(check.state != "insufficient" for check in self.checks)

    def evidence(self) -> dict[str, dict[str, float | int | str | None]]:
        return {
            c.name: {"state": c.state, "observed": c.observed, "threshold": c.threshold, "samples": c.samples}
            for c in self.checks
        }


def _satisfaction(stats: PhaseStats, policy: RolloutPolicy) -> HealthCheck:
    if stats.rated < policy.satisfaction_min_feedback:
        return HealthCheck("satisfaction", "insufficient", None, policy.satisfaction_min, stats.rated)
    ok = Fraction(stats.satisfied, stats.rated) >= exact(policy.satisfaction_min)
    observed = round(stats.satisfied / stats.rated, 6)
    return HealthCheck("satisfaction", "ok" if ok else "failed", observed, policy.satisfaction_min, stats.rated)


def _error_rate(stats: PhaseStats, policy: RolloutPolicy) -> HealthCheck:
    if stats.predictions < policy.error_rate_min_predictions:
        return HealthCheck("error_rate", "insufficient", None, policy.error_rate_max, stats.predictions)
    ok = Fraction(stats.errors, stats.predictions) <= exact(policy.error_rate_max)
    observed = round(stats.errors / stats.predictions, 6)
    return HealthCheck("error_rate", "ok" if ok else "failed", observed, policy.error_rate_max, stats.predictions)


def _latency(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> HealthCheck:
    samples = min(candidate.ok_predictions, stable.ok_predictions)
    if samples < policy.latency_min_predictions or candidate.mean_latency_ms is None or stable.mean_latency_ms is None:
        return HealthCheck("latency", "insufficient", None, 0.0, samples)
    # Compared as the decimals the means print as, so that "exactly 1.5 x" is not lost to binary rounding.
    limit = exact(policy.latency_factor) * exact(stable.mean_latency_ms)
    state: CheckState = "ok" if exact(candidate.mean_latency_ms) <= limit else "failed"
    return HealthCheck("latency", state, round(candidate.mean_latency_ms, 6), round(float(limit), 6), samples)


def assess_phase_health(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> PhaseHealth:
    """Satisfaction >= 0.70 (from 30 feedback), errors <= 5% (from 50), latency <= 1.5 x stable (from 50 each)."""
    return PhaseHealth([_satisfaction(candidate, policy), _error_rate(candidate, policy), _latency(candidate, stable, policy)])
