"""decision_bench (SPEC 10, issue 25) on a few seeded runs: its traffic, its copy of today's rule, and its counts."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.decision_bench import SCENARIOS, Tally, Traffic, latency_sums, met, simulate, todays_health
from domain.policy import RolloutPolicy
from domain.rules.phase_health import PhaseStats

TRAFFIC = Traffic()
RUNS = 40


@pytest.fixture(scope="module")
def equal() -> dict[str, Tally]:
    return simulate("equal", RUNS, seed=3, traffic=TRAFFIC)


def test_every_run_ends_rolled_back_paused_or_promoted_once(equal: dict[str, Tally]) -> None:
    for tally in equal.values():
        rolled_back = sum(tally.rolled_back.values())
        assert tally.runs == RUNS
        assert rolled_back + tally.paused + tally.promoted == RUNS
        assert len(tally.ratings) == sum(tally.checks.values()) == rolled_back
        assert tally.share(True) <= tally.share(False) == rolled_back / RUNS


def test_todays_rule_rolls_back_equal_candidates_more_often_than_the_new_rule(equal: dict[str, Tally]) -> None:
    assert equal["today"].share(False) > 0.05
    assert equal["new"].share(False) < equal["today"].share(False)
    assert not met(SCENARIOS[0], equal["today"])


def test_the_same_seed_draws_the_same_runs(equal: dict[str, Tally]) -> None:
    again = simulate("equal", RUNS, seed=3, traffic=TRAFFIC)
    assert {rule: (t.rolled_back, t.ratings) for rule, t in again.items()} == {
        rule: (t.rolled_back, t.ratings) for rule, t in equal.items()}


def test_a_twenty_point_regression_is_caught_in_the_first_phase_counting_the_candidates_ratings() -> None:
    found = simulate("reg20", 20, seed=5, traffic=TRAFFIC)
    assert found["today"].share(True) == found["new"].share(True) == 1.0
    assert RolloutPolicy().satisfaction_min_feedback <= (found["today"].median() or 0) <= 100


def test_latency_sums_add_each_cells_own_draws_and_leave_an_empty_cell_at_zero() -> None:
    counts = np.array([[2, 0], [1, 3]])
    total, squares = latency_sums(np.random.default_rng(1), counts, 5.0, 0.5)
    draws = np.random.default_rng(1).lognormal(np.log(5.0) - np.log(1.25) / 2, np.sqrt(np.log(1.25)), 6)
    assert total == pytest.approx(np.array([[draws[0] + draws[1], 0.0], [draws[2], draws[3:].sum()]]))
    assert squares[1, 1] == pytest.approx((draws[3:] ** 2).sum())


@pytest.mark.parametrize(("rated", "satisfied", "errors", "state"), [
    (30, 21, 0, "ok"), (30, 20, 0, "failed"), (29, 0, 0, "insufficient"), (100, 100, 5, "ok"), (100, 100, 6, "failed")])
def test_todays_rule_is_the_candidates_own_figures_against_the_seeds_thresholds(rated: int, satisfied: int, errors: int,
                                                                              state: str) -> None:
    candidate = PhaseStats(predictions=100, errors=errors, rated=rated, satisfied=satisfied, mean_latency_ms=7.5,
                           ok_predictions=100 - errors)
    stable = PhaseStats(predictions=900, rated=300, satisfied=10, mean_latency_ms=5.0, ok_predictions=900)
    health = todays_health(candidate, stable, RolloutPolicy())
    assert {check.name: check.state for check in health.checks}["latency"] == "ok"  # exactly 1.5 x stable
    satisfaction, error_rate = health.checks[0].state, health.checks[1].state
    assert (satisfaction if errors == 0 else error_rate) == state
