"""The paired comparison of rule 4.6, against an oracle built on scipy: McNemar's exact p-value is scipy's two-sided
binomial test on the discordant items, and Tango's score interval is found again by maximising the likelihood
numerically and solving for the bounds with Brent's method, instead of the closed form and the bisection the rule
uses (the rule's module uses the standard library only)."""

from __future__ import annotations

import math

import pytest
from scipy import optimize, stats

from domain.rules.paired_comparison import compare_paired, mcnemar_exact, significant

Z = float(stats.norm.ppf(0.975))


def scipy_p_value(b: int, c: int) -> float:
    return float(stats.binomtest(min(b, c), b + c, 0.5).pvalue) if b + c else 1.0


def scipy_score(n: int, b: int, c: int, delta: float) -> float:
    """Tango's score at `delta`, the b-cell probability maximising the multinomial likelihood under that difference."""
    def minus_log_likelihood(q: float) -> float:
        cells = ((b, q), (c, q + delta), (n - b - c, 1 - 2 * q - delta))
        return -sum(count * math.log(max(p, 1e-300)) for count, p in cells if count)

    q = optimize.minimize_scalar(minus_log_likelihood, bounds=(max(0.0, -delta), (1 - delta) / 2), method="bounded",
                                 options={"xatol": 1e-14}).x
    return (c - b - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))


def scipy_interval(n: int, b: int, c: int) -> tuple[float, float]:
    estimate = (c - b) / n
    low = optimize.brentq(lambda d: scipy_score(n, b, c, d) - Z, -1 + 1e-9, estimate, xtol=1e-13)
    high = optimize.brentq(lambda d: scipy_score(n, b, c, d) + Z, estimate, 1 - 1e-9, xtol=1e-13)
    return low, high


# (n, b, c): the worked examples of Fagerland, Lydersen & Laake, ch. 8 (Bentur 2009: 21 pairs, Cavo 2012: 161),
# PropCIs' scoreci.mp example (160 pairs), validation-sized sets, and lopsided ones
INTERIOR = [(21, 7, 1), (161, 6, 16), (160, 40, 20), (100, 8, 18), (100, 3, 10), (120, 2, 37), (1000, 40, 70),
            (50, 10, 30), (100, 0, 4), (100, 3, 0), (30, 1, 28), (5000, 900, 1000)]


@pytest.mark.parametrize(("n", "b", "c"), INTERIOR)
def test_the_interval_is_the_one_the_oracle_finds(n: int, b: int, c: int) -> None:
    comparison = compare_paired(n, b, c)
    assert comparison is not None
    assert comparison["interval"] == pytest.approx(scipy_interval(n, b, c), abs=1e-7)
    assert comparison["difference"] == round((c - b) / n, 6)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 1), (1, 0), (0, 5), (5, 5), (7, 1), (6, 16), (40, 20), (0, 1000),
                                      (3000, 3200), (20000, 20700)])
def test_the_p_value_is_scipys_exact_two_sided_binomial_test(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(scipy_p_value(b, c), rel=1e-9, abs=1e-300)


def test_without_any_discordant_item_the_p_value_is_1_and_the_interval_is_not_degenerate() -> None:
    comparison = compare_paired(100, 0, 0)
    assert comparison is not None and comparison["p_value"] == 1.0
    # the score interval at b = c = 0 has the closed form +-z^2 / (n + z^2)
    bound = Z**2 / (100 + Z**2)
    assert comparison["interval"] == pytest.approx((-bound, bound), abs=1e-12)
    assert not significant(comparison)


def test_over_0_items_there_is_no_comparison() -> None:
    assert compare_paired(0, 0, 0) is None


@pytest.mark.parametrize(("n", "b", "c"), [(10, -1, 0), (10, 0, -1), (10, 6, 5), (-1, 0, 0)])
def test_impossible_counts_are_refused(n: int, b: int, c: int) -> None:
    with pytest.raises(ValueError, match="impossible paired counts"):
        compare_paired(n, b, c)


def test_a_candidate_right_on_every_item_the_parent_missed_reaches_the_upper_end() -> None:
    better, worse = compare_paired(10, 0, 10), compare_paired(10, 10, 0)
    assert better is not None and worse is not None
    assert better["interval"][1] == 1.0 and worse["interval"][0] == -1.0
    # the interval is symmetric in b and c
    assert better["interval"][0] == pytest.approx(-worse["interval"][1], abs=1e-12)
    assert better["p_value"] == worse["p_value"] == pytest.approx(2 / 2**10)


@pytest.mark.parametrize(("b", "c"), [(0, 3), (0, 4), (8, 18), (3, 10), (6, 15), (13, 25), (10, 21), (60, 90)])
def test_the_interval_excludes_0_exactly_when_the_asymptotic_mcnemar_statistic_exceeds_z(b: int, c: int) -> None:
    comparison = compare_paired(200, b, c)
    assert comparison is not None
    assert significant(comparison) == ((c - b) / math.sqrt(b + c) > Z)


def test_large_counts_keep_an_interval_around_the_difference() -> None:
    comparison = compare_paired(200_000, 40_000, 41_000)
    assert comparison is not None
    low, high = comparison["interval"]
    assert low < comparison["difference"] < high and significant(comparison)
    assert comparison["p_value"] == pytest.approx(scipy_p_value(40_000, 41_000), rel=1e-9)
