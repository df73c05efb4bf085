"""Always-valid inference for a rollout's checks (rule 4.7): confidence sequences that may be looked at after every
rating, as often as one likes, without raising the chance of a wrong call above alpha.

The sequence is the normal-mixture boundary of Robbins, as used by the mixture sequential probability ratio test
(mSPRT) of Johari, Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B tests" (2017), and in
Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences" (2021). For an
estimate that is asymptotically normal with variance V (that of a difference of two means: V = v1/n1 + v2/n2), mixing
the alternatives over N(0, tau^2), the likelihood ratio against theta is

    Lambda(theta) = sqrt(V / (V + tau^2)) * exp(tau^2 (estimate - theta)^2 / (2 V (V + tau^2)))

and {theta : Lambda(theta) < 1/alpha} is the interval estimate +- radius below, valid at every sample size at once.
tau is where the test has most power: the size of the change worth catching."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """An always-valid (1 - alpha) interval for a difference, with its estimate."""

    estimate: float
    low: float
    high: float


def mixture_radius(variance: float, *, alpha: float, tau: float) -> float:
    """Half-width of the (1 - alpha) confidence sequence for an estimate of this variance."""
    if variance <= 0:
        return 0.0
    tau2 = tau * tau
    return math.sqrt(2 * variance * (variance + tau2) / tau2 *
                     math.log(math.sqrt((variance + tau2) / variance) / alpha))


def likelihood_ratio(estimate: float, null: float, variance: float, *, tau: float) -> float:
    """The mixture likelihood ratio (an e-value) of the data against `null`: at least 1/alpha rejects it."""
    if variance <= 0:
        return math.inf if estimate != null else 1.0
    tau2 = tau * tau
    exponent = tau2 * (estimate - null) ** 2 / (2 * variance * (variance + tau2))
    return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))


def one_sided(alpha: float) -> float:
    """The two-sided level whose bounds are each a one-sided bound at `alpha`.

    Split the mixture M = (M- + M+)/2 into its halves over theta < 0 and theta > 0, each a test martingale of its own
    (Ville: P(sup M- >= 1/alpha) <= alpha). While the estimate lies below the null, M+ <= 1, so M >= (1/alpha + 1)/2
    implies M- >= 1/alpha: the two-sided boundary at 2 alpha / (1 + alpha) is a one-sided boundary at alpha."""
    return 2 * alpha / (1 + alpha)


def interval(estimate: float, variance: float, *, alpha: float, tau: float) -> Interval:
    """Each bound a one-sided always-valid (1 - alpha) bound: the rules act on one side at a time (worse, or
    confidently better), so the pair covers with probability at least 1 - 2 alpha."""
    radius = mixture_radius(variance, alpha=one_sided(alpha), tau=tau)
    return Interval(estimate, estimate - radius, estimate + radius)


def proportion_variance(successes: int, trials: int) -> float:
    """The variance of a proportion's estimate, with one success and one failure added (Agresti-Coull's idea), so
    that a run of identical answers does not claim a variance of zero."""
    p = (successes + 1) / (trials + 2)
    return p * (1 - p) / trials


def proportion_difference(successes_a: int, trials_a: int, successes_b: int, trials_b: int, *, alpha: float,
                          tau: float, pooled: bool = False) -> tuple[Interval, float]:
    """a - b for two proportions: the interval, and the variance it was drawn from. `pooled` takes the variance the
    difference has when both proportions are equal (the score test's), the null the rule acts on: with a small arm
    that does worse, it is smaller than the two arms' own, so a regression is caught sooner."""
    if pooled:
        p = (successes_a + successes_b + 1) / (trials_a + trials_b + 2)
        variance = p * (1 - p) * (1 / trials_a + 1 / trials_b)
    else:
        variance = proportion_variance(successes_a, trials_a) + proportion_variance(successes_b, trials_b)
    return interval(successes_a / trials_a - successes_b / trials_b, variance, alpha=alpha, tau=tau), variance


def log_mean_ratio(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int, *, alpha: float,
                   tau: float) -> tuple[Interval, float]:
    """log(mean a / mean b) of two positive samples (the delta method: var(log m) = s^2 / (n m^2))."""
    variance = var_a / (n_a * mean_a * mean_a) + var_b / (n_b * mean_b * mean_b)
    return interval(math.log(mean_a / mean_b), variance, alpha=alpha, tau=tau), variance
