"""Rules 4.7 and 4.8 as pure functions: routing buckets, phase health at its boundaries, phase decisions, restores."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from domain.policy import RolloutPolicy
from domain.rules.phase_health import CheckState, HealthCheck, PhaseHealth, PhaseStats, assess_phase_health
from domain.rules.rollback import restore_refusal
from domain.rules.rollout_decisions import decide_phase
from domain.rules.routing import bucket, routing_key, serves_candidate

POLICY = RolloutPolicy()
ROLLOUT_ID = "5d2c1f0e-0000-5000-8000-000000000001"
DAY = timedelta(hours=24)


def states(health: PhaseHealth) -> dict[str, str]:
    return {check.name: check.state for check in health.checks}


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


# -- phase health ---------------------------------------------------------------------------------------------
STABLE = PhaseStats(predictions=100, ok_predictions=100, mean_latency_ms=10.0)


@pytest.mark.parametrize(("rated", "satisfied", "state"), [
    (100, 70, "ok"), (100, 69, "failed"), (30, 21, "ok"), (30, 20, "failed"), (29, 0, "insufficient"),
    (1000, 700, "ok"), (1000, 699, "failed"),
])
def test_satisfaction_in_a_phase_is_at_least_70_percent_from_30_feedback(rated: int, satisfied: int,
                                                                         state: str) -> None:
    health = assess_phase_health(PhaseStats(rated=rated, satisfied=satisfied), STABLE, POLICY)
    assert states(health)["satisfaction"] == state


@pytest.mark.parametrize(("predictions", "errors", "state"), [
    (100, 5, "ok"), (100, 6, "failed"), (50, 2, "ok"), (50, 3, "failed"), (49, 49, "insufficient"),
    (20, 1, "insufficient"), (1000, 50, "ok"), (1000, 51, "failed"),
])
def test_the_error_rate_in_a_phase_is_at_most_5_percent_from_50_predictions(predictions: int, errors: int,
                                                                            state: str) -> None:
    health = assess_phase_health(PhaseStats(predictions=predictions, errors=errors), STABLE, POLICY)
    assert states(health)["error_rate"] == state


@pytest.mark.parametrize(("candidate_ms", "stable_ms", "candidate_n", "stable_n", "state"), [
    (15.0, 10.0, 50, 50, "ok"), (15.01, 10.0, 50, 50, "failed"), (15.15, 10.1, 50, 50, "ok"),
    (0.45, 0.3, 50, 50, "ok"), (0.4501, 0.3, 50, 50, "failed"),
    (40.0, 10.0, 49, 50, "insufficient"), (40.0, 10.0, 50, 49, "insufficient"),
])
def test_latency_in_a_phase_is_at_most_1_5_times_the_stable_versions_from_50_predictions_each(
    candidate_ms: float, stable_ms: float, candidate_n: int, stable_n: int, state: str
) -> None:
    candidate = PhaseStats(predictions=candidate_n, ok_predictions=candidate_n, mean_latency_ms=candidate_ms)
    stable = PhaseStats(predictions=stable_n, ok_predictions=stable_n, mean_latency_ms=stable_ms)
    assert states(assess_phase_health(candidate, stable, POLICY))["latency"] == state


def test_a_phase_without_any_latency_has_insufficient_latency_evidence() -> None:
    health = assess_phase_health(PhaseStats(predictions=60, errors=60), STABLE, POLICY)
    assert states(health)["latency"] == "insufficient"


def test_the_evidence_of_a_phase_names_each_check_with_its_figures() -> None:
    candidate = PhaseStats(predictions=60, errors=3, rated=40, satisfied=30, ok_predictions=57, mean_latency_ms=12.0)
    evidence = assess_phase_health(candidate, STABLE, POLICY).evidence()
    assert evidence == {
        "satisfaction": {"state": "ok", "observed": 0.75, "threshold": 0.7, "samples": 40},
        "error_rate": {"state": "ok", "observed": 0.05, "threshold": 0.05, "samples": 60},
        "latency": {"state": "ok", "observed": 12.0, "threshold": 15.0, "samples": 57},
    }


def test_the_thresholds_of_phase_health_come_from_the_policy() -> None:
    strict = RolloutPolicy(satisfaction_min=0.9, satisfaction_min_feedback=10)
    health = assess_phase_health(PhaseStats(rated=10, satisfied=8), STABLE, strict)
    assert states(health)["satisfaction"] == "failed"


# -- phase decisions -------------------------------------------------------------------------------------------
def health_of(*check_states: CheckState) -> PhaseHealth:
    names = ("satisfaction", "error_rate", "latency")
    return PhaseHealth([HealthCheck(name, state, None, 0.0, 0) for name, state in zip(names, check_states, strict=True)])


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
