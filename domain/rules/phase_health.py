"""Rule 4.7: the health of a rollout phase is a comparison of the candidate with the stable version serving the same
period (users split by bucket), with always-valid intervals, not a threshold re-checked on small samples.

Checks, each on the difference candidate - stable, at a share of `rollout.alpha` (Bonferroni over the phase's checks,
spent where it buys the most):

| check | estimate | worse iff | alpha share |
|---|---|---|---|
| `satisfaction` | satisfied/rated, difference | interval below -margin | 0.52 |
| `satisfaction/<type>` | the same within one image type (both sides with the minimum) | the same | 0.30, split |
| `error_rate` | errors/predictions, difference | interval above +margin | 0.02 |
| `latency` | log(mean candidate / mean stable) | interval above log(latency_factor) | 0.02 |
| `satisfaction_floor`, `error_rate_floor` | the candidate alone | confidently below 0.70 / above 0.05 | 0.05 each |

A floor that fails rolls the candidate back only when it is not confidently better than the stable version and the
stable version is confidently within that floor: rolling back to a version that does worse, or may fail the floor as
well, buys nothing (production's monitoring, rule 4.1, opens the next campaign). Every bound is one-sided (each side
at its share of alpha, see always_valid.one_sided); the satisfaction comparison takes the pooled variance of the
no-difference null. The first phase spends alpha; the later ones, with five times its traffic, a fifth of it.

The shares follow what each check needs to catch what matters (benchmarks/decision_bench.py): satisfaction holds most,
since a 10-point regression must be caught within the 10% phase's few hundred ratings; error rate and latency changes
worth a rollback (4x the errors, +60% latency) are caught with a small share over thousands of predictions. While the
stable version is itself confidently below the satisfaction floor, the satisfaction comparisons spend a fifth of their
share (`BREACHED_STABLE`): the candidate was most likely made to repair it, and a rollback would return every user to
a version known to fail the floor, so it takes stronger evidence. The shares add up to 0.96: spending less than alpha
keeps it family-wise, and the 0.04 left is the margin of the equal-candidates case under its 1 % of wrong calls.

A check without its minimum samples on both sides is `insufficient`; per-type checks never hold a phase back, and
exist only where the traffic has two image types or more."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from domain.payloads import HealthCheck, PhaseEvidence
from domain.policy import RolloutPolicy
from domain.rules.always_valid import (
    Interval,
    interval,
    likelihood_ratio,
    log_mean_ratio,
    proportion_difference,
    proportion_variance,
)

CheckState = Literal["ok", "failed", "insufficient"]
ALPHA_SHARES = {"satisfaction": 0.52, "segments": 0.30, "error_rate": 0.02, "latency": 0.02, "floor": 0.05}
BREACHED_STABLE = 0.2  # the satisfaction comparisons' alpha, as a share, while the stable version is in breach
LATER_PHASES = 0.2  # the alpha of every phase after the first, as a share of rollout.alpha
# tau: the change each test is most sensitive to (see always_valid)
TAU = {"satisfaction": 0.055, "error_rate": 0.04, "latency": 0.2}


@dataclass(frozen=True)
class PhaseStats:
    """One version's traffic in the current phase, in all and per image type."""

    predictions: int = 0
    errors: int = 0
    rated: int = 0
    satisfied: int = 0
    mean_latency_ms: float | None = None
    ok_predictions: int = 0
    latency_variance: float | None = None  # the sample variance of the ok predictions' latency (ms^2)
    segments: dict[str, PhaseStats] = field(default_factory=dict, hash=False, compare=True)


def health_check(state: CheckState, observed: float | None, threshold: float, samples: int,
                 stable: float | None = None, stable_samples: int = 0, difference: float | None = None,
                 low: float | None = None, high: float | None = None, statistic: float | None = None,
                 alpha: float = 0.0, margin: float = 0.0, rule: str = "") -> HealthCheck:
    """One check's verdict and the evidence a person needs to agree, as the rollout's events record it: both arms'
    figures and samples, the always-valid interval of the difference, the statistic (the mixture likelihood ratio
    against "no worse", rejected at 1/alpha), alpha and the margin, and what decided: "comparison", "floor", or why
    the floor was set aside."""
    return HealthCheck(state=state, observed=observed, threshold=threshold, samples=samples, stable=stable,
                       stable_samples=stable_samples, difference=difference, low=low, high=high, statistic=statistic,
                       alpha=alpha, margin=margin, rule=rule)


@dataclass(frozen=True)
class PhaseHealth:
    """Every check of the phase by name, in the order they were assessed: the evidence its decision records."""

    checks: PhaseEvidence

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed."""
        return [name for name, check in self.checks.items() if check["state"] == "failed"]

    @property
    def enough_evidence(self) -> bool:
        return all(check["state"] != "insufficient" for name, check in self.checks.items() if "/" not in name)

    def evidence(self) -> PhaseEvidence:
        return dict(self.checks)


def assess_phase_health(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy, *,
                        phase: int = 1) -> PhaseHealth:
    """Every check of the phase, the candidate against the stable version, at `policy.alpha` family-wise in the
    first phase and a fifth of it in the later ones, which have five times the traffic and more to lose."""
    if phase > 1:
        policy = policy.model_copy(update={"alpha": policy.alpha * LATER_PHASES})
    segments = sorted(set(candidate.segments) & set(stable.segments))
    if len(segments) < 2:  # one image type is the whole: its check would repeat the global one
        segments = []
    breach = _stable_in_breach(stable, policy)
    spent = policy.alpha * (BREACHED_STABLE if breach else 1.0)
    share = spent * ALPHA_SHARES["segments"] / max(1, len(segments))
    satisfaction = _satisfaction(candidate, stable, policy, spent * ALPHA_SHARES["satisfaction"])
    error_rate = _error_rate(candidate, stable, policy)
    checks = {"satisfaction": satisfaction, "error_rate": error_rate, "latency": _latency(candidate, stable, policy)}
    checks |= {f"satisfaction/{name}": _satisfaction(candidate.segments[name], stable.segments[name], policy, share)
               for name in segments}
    checks |= {"satisfaction_floor": _satisfaction_floor(candidate, stable, satisfaction, policy),
               "error_rate_floor": _error_floor(candidate, stable, error_rate, policy)}
    return PhaseHealth(checks)


def _stable_in_breach(stable: PhaseStats, policy: RolloutPolicy) -> bool:
    """Whether the stable version is itself confidently below the satisfaction floor (at the floor's share of alpha):
    the candidate was most likely made to repair it, and rolling back returns every user to a version known to fail
    the procedure's floor."""
    if stable.rated < policy.satisfaction_min_feedback:
        return False
    bounds = _one_proportion(stable.satisfied, stable.rated, policy.alpha * ALPHA_SHARES["floor"])
    return bounds.high < policy.satisfaction_min


def _satisfaction(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy, alpha: float) -> HealthCheck:
    minimum = policy.satisfaction_min_feedback
    if candidate.rated < minimum or stable.rated < minimum:
        return _insufficient(candidate.rated, stable.rated, policy.satisfaction_min, alpha, policy.margin)
    found, variance = proportion_difference(candidate.satisfied, candidate.rated, stable.satisfied, stable.rated,
                                            alpha=alpha, tau=TAU["satisfaction"], pooled=True)
    worse = found.high < -policy.margin
    return _compared(worse, found, candidate.satisfied / candidate.rated, candidate.rated,
                     stable.satisfied / stable.rated, stable.rated, policy.satisfaction_min, alpha, policy.margin,
                     likelihood_ratio(found.estimate, -policy.margin, variance, tau=TAU["satisfaction"]))


def _error_rate(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> HealthCheck:
    alpha, minimum = policy.alpha * ALPHA_SHARES["error_rate"], policy.error_rate_min_predictions
    if candidate.predictions < minimum or stable.predictions < minimum:
        return _insufficient(candidate.predictions, stable.predictions, policy.error_rate_max, alpha,
                             policy.margin)
    found, variance = proportion_difference(candidate.errors, candidate.predictions, stable.errors,
                                            stable.predictions, alpha=alpha, tau=TAU["error_rate"])
    worse = found.low > policy.margin
    return _compared(worse, found, candidate.errors / candidate.predictions, candidate.predictions,
                     stable.errors / stable.predictions, stable.predictions, policy.error_rate_max, alpha,
                     policy.margin, likelihood_ratio(found.estimate, policy.margin, variance, tau=TAU["error_rate"]))


def _latency(candidate: PhaseStats, stable: PhaseStats, policy: RolloutPolicy) -> HealthCheck:
    alpha, minimum = policy.alpha * ALPHA_SHARES["latency"], policy.latency_min_predictions
    limit = math.log(policy.latency_factor)
    if (candidate.ok_predictions < minimum or stable.ok_predictions < minimum or not candidate.mean_latency_ms
            or not stable.mean_latency_ms):
        return _insufficient(candidate.ok_predictions, stable.ok_predictions, policy.latency_factor, alpha,
                             limit)
    found, variance = log_mean_ratio(
        candidate.mean_latency_ms, candidate.latency_variance or 0.0, candidate.ok_predictions,
        stable.mean_latency_ms, stable.latency_variance or 0.0, stable.ok_predictions, alpha=alpha, tau=TAU["latency"])
    return _compared(found.low > limit, found, candidate.mean_latency_ms, candidate.ok_predictions,
                     stable.mean_latency_ms, stable.ok_predictions, policy.latency_factor, alpha, limit,
                     likelihood_ratio(found.estimate, limit, variance, tau=TAU["latency"]))


def _satisfaction_floor(candidate: PhaseStats, stable: PhaseStats, comparison: HealthCheck,
                        policy: RolloutPolicy) -> HealthCheck:
    alpha = policy.alpha * ALPHA_SHARES["floor"]
    candidate_bounds = _one_proportion(candidate.satisfied, candidate.rated, alpha)
    stable_bounds = _one_proportion(stable.satisfied, stable.rated, alpha)
    return _floor(candidate.rated, candidate.satisfied, stable.rated, stable.satisfied,
                  policy.satisfaction_min_feedback, policy.satisfaction_min, alpha,
                  past=candidate_bounds.high < policy.satisfaction_min,
                  stable_within=stable_bounds.low >= policy.satisfaction_min,
                  better=(comparison.get("low") or 0.0) > 0, tau=TAU["satisfaction"])


def _error_floor(candidate: PhaseStats, stable: PhaseStats, comparison: HealthCheck,
                 policy: RolloutPolicy) -> HealthCheck:
    alpha = policy.alpha * ALPHA_SHARES["floor"]
    candidate_bounds = _one_proportion(candidate.errors, candidate.predictions, alpha, TAU["error_rate"])
    stable_bounds = _one_proportion(stable.errors, stable.predictions, alpha, TAU["error_rate"])
    return _floor(candidate.predictions, candidate.errors, stable.predictions, stable.errors,
                  policy.error_rate_min_predictions, policy.error_rate_max, alpha,
                  past=candidate_bounds.low > policy.error_rate_max,
                  stable_within=stable_bounds.high <= policy.error_rate_max,
                  better=(comparison.get("high") or 0.0) < 0, tau=TAU["error_rate"])


def _floor(n: int, hits: int, stable_n: int, stable_hits: int, minimum: int, threshold: float,
           alpha: float, *, past: bool, stable_within: bool, better: bool, tau: float) -> HealthCheck:
    if n < minimum:
        return health_check("insufficient", None, threshold, n, alpha=alpha, rule="floor")
    found = _one_proportion(hits, n, alpha, tau)
    low, high = max(0.0, found.low), min(1.0, found.high)  # a rate's bounds: within [0, 1] whatever the approximation
    rule = "floor"
    if past and better:
        rule = "floor set aside: the candidate is confidently better than the stable version"
    elif past and not stable_within:
        rule = "floor set aside: the stable version is not confidently within the floor either"
    state: CheckState = "failed" if past and rule == "floor" else "ok"
    return health_check(state, round(hits / n, 6), threshold, n, round(stable_hits / stable_n, 6)
                        if stable_n else None, stable_n, None, round(low, 6), round(high, 6), None, alpha,
                        0.0, rule)


def _one_proportion(hits: int, n: int, alpha: float, tau: float = TAU["satisfaction"]) -> Interval:
    if n == 0:
        return Interval(0.0, -math.inf, math.inf)
    return interval(hits / n, proportion_variance(hits, n), alpha=alpha, tau=tau)


def _insufficient(samples: int, stable_samples: int, threshold: float, alpha: float, margin: float) -> HealthCheck:
    return health_check("insufficient", None, threshold, samples, stable_samples=stable_samples, alpha=alpha,
                        margin=margin, rule="comparison")


def _compared(worse: bool, found: Interval, observed: float, samples: int, stable: float, stable_samples: int,
              threshold: float, alpha: float, margin: float, statistic: float) -> HealthCheck:
    return health_check("failed" if worse else "ok", round(observed, 6), threshold, samples, round(stable, 6),
                        stable_samples, round(found.estimate, 6), round(found.low, 6), round(found.high, 6),
                        round(min(statistic, 1e12), 6), alpha, margin, "comparison")
