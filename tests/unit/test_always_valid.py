"""The always-valid intervals of the rollout's checks: their endpoints are where the mixture likelihood ratio reaches
1/alpha, and re-checking them after every rating keeps the chance of a wrong call near alpha, where a fixed-sample
test re-checked the same way makes several times more."""

from __future__ import annotations

import math
import random

import pytest

from domain.rules.always_valid import interval, likelihood_ratio, mixture_radius, one_sided, proportion_difference


@pytest.mark.parametrize(("variance", "alpha", "tau"), [(0.001, 0.05, 0.1), (0.0001, 0.01, 0.05), (0.04, 0.2, 0.3)])
def test_each_bound_is_where_the_likelihood_ratio_reaches_its_one_sided_level(variance: float, alpha: float,
                                                                             tau: float) -> None:
    """A bound is one-sided at alpha: the two-sided mixture at (1/alpha + 1)/2, i.e. at level 2 alpha / (1 + alpha)."""
    found = interval(0.1, variance, alpha=alpha, tau=tau)
    for endpoint in (found.low, found.high):
        assert likelihood_ratio(0.1, endpoint, variance, tau=tau) == pytest.approx((1 / alpha + 1) / 2, rel=1e-9)
    assert one_sided(alpha) == pytest.approx(2 * alpha / (1 + alpha))
    assert likelihood_ratio(0.1, 0.1, variance, tau=tau) < 1


def test_the_radius_shrinks_as_evidence_grows_and_widens_as_alpha_shrinks() -> None:
    radii = [mixture_radius(0.25 / n, alpha=0.05, tau=0.1) for n in (30, 100, 1000, 10000)]
    assert radii == sorted(radii, reverse=True)
    assert mixture_radius(0.001, alpha=0.01, tau=0.1) > mixture_radius(0.001, alpha=0.05, tau=0.1)
    assert mixture_radius(0.0, alpha=0.05, tau=0.1) == 0.0


def wrong_calls(check: str, runs: int = 400, ratings: int = 300, seed: int = 7) -> float:
    """Share of runs of two equal arms (78% satisfied; the candidate gets 10% of the ratings) in which a check
    re-run after every candidate rating ever calls the candidate worse, at alpha = 0.05 (one-sided)."""
    rng = random.Random(seed)
    called = 0
    for _ in range(runs):
        a = b = nb = 0
        for n in range(1, ratings + 1):
            a += rng.random() < 0.78
            for _ in range(9):
                b += rng.random() < 0.78
            nb += 9
            if n < 30:
                continue
            if check == "always valid":
                found, _ = proportion_difference(a, n, b, nb, alpha=0.05, tau=0.08, pooled=True)
                wrong = found.high < 0
            else:  # the fixed-sample one-sided z-test at 95%, peeked at after every rating
                p1, p2 = a / n, b / nb
                se = math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / nb) or 1e-9
                wrong = (p1 - p2) / se < -1.645
            if wrong:
                called += 1
                break
    return called / runs


def test_re_checking_after_every_rating_keeps_wrong_calls_below_alpha_where_peeking_at_a_z_test_does_not() -> None:
    always_valid, peeking = wrong_calls("always valid"), wrong_calls("z-test")
    assert always_valid <= 0.05
    assert peeking >= 0.2 and peeking >= 5 * max(always_valid, 0.01)
