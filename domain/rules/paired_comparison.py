"""Rule 4.6's paired comparison: parent and candidate answer the same items, so what tells them apart is the items
on which they disagree. Of n items, b are ones the parent got right and the candidate wrong, c the reverse; the
accuracy difference (candidate - parent) is (c - b) / n.

- McNemar's exact test: under "no difference" each discordant item is the candidate's with probability 1/2, so
  p = min(1, 2 P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2); p = 1 without a discordant item.
- Tango's score interval for the paired difference (Tango 1998, Statistics in Medicine 17:891-908): the differences
  the score test does not reject at the level; it needs only b, c and n, stays within [-1, 1], is not degenerate
  when b = c = 0, and excludes 0 exactly when the asymptotic McNemar statistic (c - b) / sqrt(b + c) exceeds z.

Standard library only: exact integer arithmetic for the binomial tail, bisection for the interval's bounds."""

from __future__ import annotations

import math
from statistics import NormalDist

from domain.payloads import PairedResult

CONFIDENCE = 0.95
_BISECTIONS = 80  # halves [-1, 1] to below 1e-23, below a float's resolution near any bound


def significant(paired: PairedResult) -> bool:
    """The candidate is better with confidence: the interval's lower bound is above 0."""
    return paired["interval"][0] > 0


def compare_paired(n: int, b: int, c: int, confidence: float = CONFIDENCE) -> PairedResult | None:
    """The comparison an accuracy gate records, on n items of which b only the parent got right and c only the
    candidate: the counts, the difference (candidate - parent) with its interval at `confidence`, and McNemar's exact
    two-sided p-value; None over 0 items (no figure is ever computed over 0 items)."""
    if min(n, b, c) < 0 or b + c > n:
        raise ValueError(f"impossible paired counts: n={n}, b={b}, c={c}")
    if n == 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    low, high = tango_bound(n, b, c, z, -1), tango_bound(n, b, c, z, +1)
    # the bounds unrounded: the gate judges the figure it records (a lower bound of 3e-7 is above 0)
    return PairedResult(n=n, b=b, c=c, difference=round((c - b) / n, 6), interval=[low, high],
                        p_value=mcnemar_exact(b, c), confidence=confidence)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: twice the binomial tail of the smaller discordant count, at most 1."""
    trials = b + c
    if trials == 0:
        return 1.0
    tail, term = 0, 1  # term = C(trials, k), exact
    for k in range(min(b, c) + 1):
        tail += term
        term = term * (trials - k) // (k + 1)
    return min(1.0, 2 * tail / 2**trials)  # int / int is correctly rounded, however large


def tango_score(n: int, b: int, c: int, delta: float) -> float:
    """Tango's score statistic for the hypothesis "the difference is `delta`": (c - b - n delta) over its standard
    error, with the b-cell probability at its maximum likelihood under that hypothesis (the root of a quadratic)."""
    linear = (2 * n + b - c) * delta - (b + c)
    constant = -b * delta * (1 - delta)
    discriminant = max(linear * linear - 8 * n * constant, 0.0)
    q_b = max((math.sqrt(discriminant) - linear) / (4 * n), 0.0)
    variance = n * (2 * q_b + delta * (1 - delta))
    excess = c - b - n * delta
    if variance <= 0:  # at delta = 0 with no discordant item, or at +-1: the score is 0 or infinite
        return 0.0 if excess == 0 else math.copysign(math.inf, excess)
    return excess / math.sqrt(variance)


def tango_bound(n: int, b: int, c: int, z: float, side: int) -> float:
    """The interval's upper (side +1) or lower (side -1) bound: where the score, decreasing in delta, reaches -z
    (upper) or +z (lower), found by bisection between the estimate and +-1."""
    inside, outside = (c - b) / n, float(side)
    for _ in range(_BISECTIONS):
        middle = (inside + outside) / 2
        if side * tango_score(n, b, c, middle) > -z:
            inside = middle
        else:
            outside = middle
    return max(-1.0, min(1.0, (inside + outside) / 2))
