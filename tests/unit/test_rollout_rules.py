"""Rules 4.7 and 4.8 as pure functions: routing buckets, phase health at its boundaries, phase decisions, restores."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import pytest

from domain.policy import RolloutPolicy
from domain.rules.phase_health import (
    ALPHA_SHARES,
    BREACHED_STABLE,
    TAU,
    CheckState,
    PhaseHealth,
    PhaseStats,
    assess_phase_health,
    health_check,
)
from domain.rules.rollback import restore_refusal
from domain.rules.rollout_decisions import decide_phase
from domain.rules.routing import bucket, routing_key, serves_candidate

POLICY = RolloutPolicy()
ROLLOUT_ID = "5d2c1f0e-0000-5000-8000-000000000001"
DAY = timedelta(hours=24)


def states(health: PhaseHealth) -> dict[str, str]:
    return {name: check["state"] for name, check in health.checks.items()}


# -- routing -------------------------------------------------------------------------------------------------
def test_the_bucket_is_the_first_8_bytes_of_sha256_of_rollout_id_and_key_mod_10000() -> None:
    for key in ("u-1", "alice", "p0000042", ""):
        digest = hashlib.sha256(f"{ROLLOUT_ID}{key}".encode()).digest()
        assert bucket(ROLLOUT_ID, key) == int.from_bytes(digest[:8], byteorder="big") % 10_000


def test_the_bucket_of_a_known_key_never_changes() -> None:
    # Pinned: changing the formula would move users between versions in the middle of a phase.
    assert (bucket("rollout-1", "user-42"), bucket("rollout-1", "p0000001"), bucket(ROLLOUT_ID, "alice")) == (
        1499, 2662, 5790)


def test_buckets_differ_between_rollouts_so_the_same_users_are_not_always_the_guinea_pigs() -> None:
    keys = [f"user-{n}" for n in range(200)]
    assert [bucket("rollout-a", k) for k in keys] != [bucket("rollout-b", k) for k in keys]


@pytest.mark.parametrize(("bucket_value", "percent", "candidate"), [
    (0, 10, True), (999, 10, True), (1000, 10, False), (4999, 50, True), (5000, 50, False), (9999, 100, True),
    (0, 0, False), (9999, 99.99, False), (9998, 99.99, True),
])
def test_the_candidate_serves_a_request_iff_its_bucket_is_below_percent_times_100(
    bucket_value: int, percent: float, candidate: bool
) -> None:
    assert serves_candidate(bucket_value, percent) is candidate


@pytest.mark.parametrize(("user_ref", "key"), [("u-7", "u-7"), (None, "p-1"), ("", "p-1")])
def test_the_routing_key_is_the_user_ref_when_given_else_the_prediction_id(user_ref: str | None, key: str) -> None:
    assert routing_key(user_ref, "p-1") == key


# -- phase health: the candidate against the stable version, always valid -----------------------------------------
def stats(rated: int = 0, satisfied: int = 0, predictions: int | None = None, errors: int = 0,
          latency: tuple[float, float] | None = (10.0, 4.0), **segments: PhaseStats) -> PhaseStats:
    """A version's phase: ratings, predictions (default: as many as ratings), errors, and (mean, variance) of the
    latency of its ok predictions."""
    predictions = rated if predictions is None else predictions
    mean, variance = latency if latency else (None, None)
    return PhaseStats(predictions=predictions, errors=errors, rated=rated, satisfied=satisfied, mean_latency_ms=mean,
                      ok_predictions=predictions - errors if latency else 0, latency_variance=variance,
                      segments=segments)


def expected_high(candidate: PhaseStats, stable: PhaseStats, alpha: float, tau: float) -> float:
    """The upper bound from the formula of Johari et al. (2017), computed here independently: the pooled variance of
    the no-difference null, and the two-sided level 2 alpha / (1 + alpha) that makes each bound one-sided."""
    p = (candidate.satisfied + stable.satisfied + 1) / (candidate.rated + stable.rated + 2)
    v = p * (1 - p) * (1 / candidate.rated + 1 / stable.rated)
    level = 2 * alpha / (1 + alpha)
    radius = math.sqrt(2 * v * (v + tau ** 2) / tau ** 2 * math.log(math.sqrt((v + tau ** 2) / v) / level))
    return candidate.satisfied / candidate.rated - stable.satisfied / stable.rated + radius


STABLE = stats(3000, 2250, 3000)  # 75% over 3,000 ratings


@pytest.mark.parametrize(("satisfied", "state"), [(300, "ok"), (225, "ok"), (201, "ok"), (200, "failed"),
                                                   (150, "failed")])
def test_satisfaction_fails_only_when_the_candidate_is_confidently_worse_than_the_stable_version(
        satisfied: int, state: str) -> None:
    health = assess_phase_health(stats(300, satisfied), STABLE, POLICY)
    assert states(health)["satisfaction"] == state


def test_the_satisfaction_boundary_is_the_always_valid_intervals_upper_bound_at_its_share_of_alpha() -> None:
    alpha = POLICY.alpha * ALPHA_SHARES["satisfaction"]
    failing = [k for k in range(301) if states(assess_phase_health(stats(300, k), STABLE, POLICY))["satisfaction"]
               == "failed"]
    boundary = max(failing)
    assert failing == list(range(boundary + 1))  # every count up to the boundary fails, none above it
    assert expected_high(stats(300, boundary), STABLE, alpha, TAU["satisfaction"]) < 0
    assert expected_high(stats(300, boundary + 1), STABLE, alpha, TAU["satisfaction"]) >= 0


def test_a_margin_lets_a_candidate_be_that_much_worse() -> None:
    candidate = stats(3000, 2100, 3000)  # 70% against 75%, confidently worse
    assert states(assess_phase_health(candidate, STABLE, POLICY))["satisfaction"] == "failed"
    assert states(assess_phase_health(candidate, STABLE, POLICY.model_copy(update={"margin": 0.1})))[
        "satisfaction"] == "ok"


@pytest.mark.parametrize(("candidate_rated", "stable_rated"), [(29, 3000), (300, 29)])
def test_satisfaction_needs_30_ratings_on_each_side(candidate_rated: int, stable_rated: int) -> None:
    health = assess_phase_health(stats(candidate_rated, 0), stats(stable_rated, stable_rated), POLICY)
    assert states(health)["satisfaction"] == "insufficient"


@pytest.mark.parametrize(("errors", "state"), [(20, "ok"), (40, "ok"), (160, "failed")])
def test_the_error_rate_fails_only_when_confidently_above_the_stable_versions(errors: int, state: str) -> None:
    health = assess_phase_health(stats(0, 0, 2000, errors), stats(0, 0, 18000, 360), POLICY)
    assert states(health)["error_rate"] == state


@pytest.mark.parametrize(("mean", "state"), [(10.0, "ok"), (14.0, "ok"), (20.0, "failed")])
def test_latency_fails_only_when_confidently_beyond_1_5_times_the_stable_versions(mean: float, state: str) -> None:
    health = assess_phase_health(stats(0, 0, 2000, latency=(mean, 16.0)), stats(0, 0, 18000, latency=(10.0, 4.0)),
                                 POLICY)
    assert states(health)["latency"] == state


@pytest.mark.parametrize(("candidate_n", "stable_n"), [(49, 50), (50, 49)])
def test_latency_needs_50_ok_predictions_on_each_side(candidate_n: int, stable_n: int) -> None:
    health = assess_phase_health(stats(0, 0, candidate_n, latency=(40.0, 1.0)), stats(0, 0, stable_n), POLICY)
    assert states(health)["latency"] == "insufficient"


def test_one_image_type_much_worse_fails_its_own_check_while_the_whole_is_still_fine() -> None:
    candidate = stats(400, 300, phone=stats(120, 60), scan=stats(280, 240))
    stable = stats(4000, 3150, phone=stats(1200, 900), scan=stats(2800, 2250))
    found = states(assess_phase_health(candidate, stable, POLICY))
    assert (found["satisfaction"], found["satisfaction/phone"], found["satisfaction/scan"]) == ("ok", "failed", "ok")


def test_an_image_type_without_30_ratings_on_each_side_is_not_checked_and_holds_nothing_back() -> None:
    candidate = stats(400, 300, phone=stats(29, 0), scan=stats(371, 300))
    stable = stats(4000, 3000, phone=stats(1200, 900), scan=stats(2800, 2100))
    health = assess_phase_health(candidate, stable, POLICY)
    assert states(health)["satisfaction/phone"] == "insufficient" and health.enough_evidence


def test_traffic_of_one_image_type_is_checked_once_as_the_whole() -> None:
    health = assess_phase_health(stats(400, 300, phone=stats(400, 300)), stats(4000, 3000, phone=stats(4000, 3000)),
                                 POLICY)
    assert not [name for name in health.checks if "/" in name]


def test_a_candidate_confidently_below_the_floor_and_no_better_than_stable_is_rolled_back() -> None:
    health = assess_phase_health(stats(2000, 1200), stats(18000, 13500), POLICY)
    assert states(health)["satisfaction_floor"] == "failed"


def test_the_floor_is_set_aside_for_a_candidate_confidently_better_than_a_drifted_stable_version() -> None:
    health = assess_phase_health(stats(4000, 2640), stats(36000, 22320), POLICY)  # 0.66 against 0.62
    floor = health.checks["satisfaction_floor"]
    assert floor["state"] == "ok" and floor["rule"].startswith("floor set aside: the candidate is confidently better")
    assert not health.failed


@pytest.mark.parametrize("stable", [stats(9000, 5400), stats(3000, 2130)])  # 0.60, and 0.71 but not confidently
def test_the_floor_is_set_aside_unless_the_stable_version_is_confidently_within_it(stable: PhaseStats) -> None:
    health = assess_phase_health(stats(1000, 600), stable, POLICY)
    floor = health.checks["satisfaction_floor"]
    assert floor["state"] == "ok" and "stable version is not confidently within the floor either" in floor["rule"]


def test_later_phases_spend_a_fifth_of_alpha() -> None:
    first = assess_phase_health(stats(300, 225), STABLE, POLICY).evidence()["satisfaction"]
    second = assess_phase_health(stats(300, 225), STABLE, POLICY, phase=2).evidence()["satisfaction"]
    assert second["alpha"] == pytest.approx(first["alpha"] / 5)
    assert second["high"] > first["high"]


def test_an_error_rate_confidently_above_5_percent_fails_its_floor_unless_stable_is_as_bad() -> None:
    assert states(assess_phase_health(stats(0, 0, 2000, 200), stats(0, 0, 18000, 360), POLICY))[
        "error_rate_floor"] == "failed"
    assert states(assess_phase_health(stats(0, 0, 2000, 200), stats(0, 0, 18000, 1800), POLICY))[
        "error_rate_floor"] == "ok"


def test_the_evidence_of_each_check_holds_both_arms_the_interval_the_statistic_alpha_and_margin() -> None:
    evidence = assess_phase_health(stats(300, 225), STABLE, POLICY).evidence()
    satisfaction = evidence["satisfaction"]
    assert (satisfaction["observed"], satisfaction["samples"], satisfaction["stable"], satisfaction["stable_samples"]) \
        == (0.75, 300, 0.75, 3000)
    assert satisfaction["difference"] == 0.0 and satisfaction["low"] < 0 < satisfaction["high"]
    assert satisfaction["alpha"] == pytest.approx(0.026) and satisfaction["margin"] == 0.0
    pooled = (2476 / 3302) * (826 / 3302) * (1 / 300 + 1 / 3000)
    assert satisfaction["statistic"] == pytest.approx(math.sqrt(pooled / (pooled + TAU["satisfaction"] ** 2)), rel=1e-3)
    assert satisfaction["rule"] == "comparison"
    assert set(evidence) == {"satisfaction", "error_rate", "latency", "satisfaction_floor", "error_rate_floor"}


def test_a_stable_version_confidently_below_the_floor_makes_the_satisfaction_comparisons_spend_a_fifth() -> None:
    # the stable version at 0.65: from 3,000 ratings confidently below 0.70; from 300, not confidently
    breached = stats(3000, 1950, scan=stats(2000, 1300), phone=stats(1000, 650))
    unsure = stats(300, 195, scan=stats(200, 130), phone=stats(100, 65))
    shares = {name: assess_phase_health(stats(300, 180, **{"scan": stats(200, 120), "phone": stats(100, 60)}),
                                        stable, POLICY).evidence()
              for name, stable in (("breached", breached), ("unsure", unsure))}
    for check in ("satisfaction", "satisfaction/phone", "satisfaction/scan"):
        assert shares["breached"][check]["alpha"] == pytest.approx(shares["unsure"][check]["alpha"] * BREACHED_STABLE)
    assert shares["breached"]["error_rate"]["alpha"] == shares["unsure"]["error_rate"]["alpha"]  # other checks: as ever
    # the boundary moves: a candidate 0.555 over 300 against the breached 0.65 is worse, but not at a fifth of alpha
    worse = stats(300, 166)
    assert expected_high(worse, breached, POLICY.alpha * ALPHA_SHARES["satisfaction"], TAU["satisfaction"]) < 0
    assert states(assess_phase_health(worse, breached, POLICY))["satisfaction"] == "ok"
    assert states(assess_phase_health(stats(300, 140), breached, POLICY))["satisfaction"] == "failed"


def test_the_alpha_shares_of_a_phase_spend_at_most_the_policys_alpha() -> None:
    spent = sum(ALPHA_SHARES.values()) + ALPHA_SHARES["floor"]  # the floor's share is each floor's
    assert spent == pytest.approx(0.96)  # 0.04 unspent: the equal scenario's margin under its 1 %


# -- phase decisions -------------------------------------------------------------------------------------------
def health_of(*check_states: CheckState) -> PhaseHealth:
    names = ("satisfaction", "error_rate", "latency")
    return PhaseHealth({name: health_check(state, None, 0.0, 0)
                        for name, state in zip(names, check_states, strict=True)})


HEALTHY = health_of("ok", "ok", "ok")
UNKNOWN = health_of("ok", "insufficient", "ok")
FAILING = health_of("ok", "failed", "insufficient")


@pytest.mark.parametrize(("health", "elapsed", "extended", "decision"), [
    (FAILING, timedelta(hours=1), False, "roll_back"),
    (FAILING, 3 * DAY, True, "roll_back"),
    (HEALTHY, DAY - timedelta(seconds=1), False, "wait"),
    (HEALTHY, DAY, False, "advance"),
    (HEALTHY, DAY * 1.5, True, "advance"),
    (HEALTHY, DAY * 2, True, "advance"),
    (UNKNOWN, DAY - timedelta(seconds=1), False, "wait"),
    (UNKNOWN, DAY, False, "extend"),
    (UNKNOWN, DAY * 1.5, True, "wait"),
    (UNKNOWN, DAY * 2 - timedelta(seconds=1), True, "wait"),
    (UNKNOWN, DAY * 2, True, "pause"),
    (UNKNOWN, DAY * 3, False, "pause"),
])
def test_a_phase_rolls_back_on_failure_advances_when_healthy_at_its_end_else_extends_then_pauses(
    health: PhaseHealth, elapsed: timedelta, extended: bool, decision: str
) -> None:
    assert decide_phase(health, elapsed=elapsed, duration=DAY, already_extended=extended,
                        pause_after_factor=2) == decision


# -- restores (4.8) --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "was_production", "refusal"), [
    ("superseded", True, None),
    ("rolled_back", True, None),
    ("production", True, "it is already in production"),
    ("rolled_back", False, "it has never been in production"),
    ("validated", False, "it has never been in production"),
    ("rejected", False, "it has never been in production"),
    ("retired", True, "it is retired"),
])
def test_only_a_former_production_version_that_is_not_serving_or_retired_can_be_restored(
    state: str, was_production: bool, refusal: str | None
) -> None:
    assert restore_refusal(state=state, was_production=was_production) == refusal
