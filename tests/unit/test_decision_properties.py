"""Properties of the decision rules over generated figures: strategy (4.4), validation gates (4.6), phase health,
phase decisions and routing (4.7). Each expectation is computed here in integers from the SPEC's wording."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.policy import RolloutPolicy
from domain.rules.phase_health import PhaseStats, assess_phase_health
from domain.rules.rollout_decisions import decide_phase
from domain.rules.routing import bucket, routing_key, serves_candidate
from domain.rules.strategy import TriggeringBreach, choose_strategy
from domain.rules.validation_gates import ItemCounts, ModelFigures, judge_candidate

PROPERTIES = settings(deadline=None, database=None, max_examples=150)
POLICY = RolloutPolicy()
RULES = ["satisfaction", "image_type", "latency", "error_rate", "negative_comments"]
hundredths = st.integers(0, 100)


# -- strategy (4.4) ----------------------------------------------------------------------------------------------
@PROPERTIES
@given(st.lists(st.tuples(st.sampled_from(RULES), st.none() | hundredths), max_size=4), st.integers(0, 3_000),
       st.integers(0, 3_000), st.integers(0, 5), st.none() | st.sampled_from(["fine_tune", "full"]))
def test_full_retraining_iff_major_drift_significant_new_data_or_a_fine_tune_streak_and_an_original_training_set(
        breaches: list[tuple[str, int | None]], curated: int, original: int, streak: int, forced: str | None) -> None:
    assume(not (forced == "full" and original == 0))  # refused: there is nothing to retrain from
    decision = choose_strategy(
        breaches=[TriggeringBreach(rule, None if observed is None else observed / 100) for rule, observed in breaches],
        curated_items=curated, original_training_items=original, fine_tunes_since_full=streak,
        major_drift_below=0.50, curated_fraction_for_full=0.20, max_consecutive_fine_tunes=3, forced=forced)  # type: ignore[arg-type]
    major_drift = any(rule in ("satisfaction", "image_type") and observed is not None and observed < 50
                      for rule, observed in breaches)
    full = original > 0 and (major_drift or 5 * curated >= original or streak >= 3)
    assert decision.strategy == (forced or ("full" if full else "fine_tune"))
    assert decision.forced == (forced is not None)
    assert ("full_unavailable" in [r.split(":")[0] for r in decision.reasons]) == (
        original == 0 and (major_drift or streak >= 3))


@PROPERTIES
@given(st.sampled_from(["satisfaction", "image_type"]), st.integers(1, 300), st.integers(0, 2))
def test_each_reason_for_full_retraining_holds_from_its_boundary_and_not_just_before(
        rule: str, fifth: int, streak: int) -> None:
    def strategy(observed: float, curated: int, fine_tunes: int) -> str:
        return choose_strategy(breaches=[TriggeringBreach(rule, observed)], curated_items=curated,
                               original_training_items=5 * fifth, fine_tunes_since_full=fine_tunes,
                               major_drift_below=0.50, curated_fraction_for_full=0.20,
                               max_consecutive_fine_tunes=3).strategy

    assert strategy(0.50, fifth - 1, streak) == "fine_tune"  # at 0.50, under 20%, under 3 fine-tunes: nothing holds
    assert strategy(0.49, fifth - 1, streak) == "full"
    assert strategy(0.50, fifth, streak) == "full"  # exactly 20% of the original training set
    assert strategy(0.50, fifth - 1, 3) == "full"


# -- validation gates (4.6) --------------------------------------------------------------------------------------
thousandths = st.integers(0, 1_000)
tenths = st.integers(1, 2_000)


ITEMS = {"items": ItemCounts(validation=200, test=270), "min_items": ItemCounts(validation=20, test=100)}


def figures(validation: int, test: int, latency: int) -> ModelFigures:
    return ModelFigures(validation / 1000, test / 1000, latency / 10)


@PROPERTIES
@given(thousandths, thousandths, tenths, thousandths, thousandths, tenths)
def test_the_gates_are_strictly_better_validation_at_most_a_point_lost_and_at_most_1_5_times_slower(
        pv: int, pt: int, pl: int, cv: int, ct: int, cl: int) -> None:
    gates = judge_candidate(figures(pv, pt, pl), figures(cv, ct, cl), max_test_regression=0.01, latency_factor=1.5,
                            **ITEMS)
    assert [(gate["name"], gate["passed"]) for gate in gates] == [
        ("validation_accuracy", cv > pv), ("test_regression", ct >= pt - 10), ("latency", 2 * cl <= 3 * pl)]


@PROPERTIES
@given(thousandths, thousandths, tenths, st.integers(0, 1_000), st.integers(0, 1_000), st.integers(0, 2_000))
def test_a_candidate_at_every_limit_passes_improving_it_never_fails_and_just_past_one_fails_that_gate(
        pv: int, pt: int, half_pl: int, better_v: int, better_t: int, faster: int) -> None:
    pl = 2 * half_pl  # even, so that 1.5 x the parent's latency is a whole number of tenths
    at_limits = figures(pv + 1, pt - 10, 3 * pl // 2)  # one thousandth better, one point lost, 1.5 x slower
    improved = figures(pv + 1 + better_v, pt - 10 + better_t, max(1, 3 * pl // 2 - faster))
    for candidate in (at_limits, improved):
        gates = judge_candidate(figures(pv, pt, pl), candidate, max_test_regression=0.01, latency_factor=1.5, **ITEMS)
        assert all(gate["passed"] for gate in gates), gates
    just_past = [figures(pv, pt - 10, 3 * pl // 2), figures(pv + 1, pt - 11, 3 * pl // 2),
                 figures(pv + 1, pt - 10, 3 * pl // 2 + 1)]  # equal validation, 1.1 points lost, 0.1 ms slower
    for failing, candidate in enumerate(just_past):
        gates = judge_candidate(figures(pv, pt, pl), candidate, max_test_regression=0.01, latency_factor=1.5, **ITEMS)
        assert [gate["passed"] for gate in gates] == [index != failing for index in range(3)], gates


# -- phase health and decisions (4.7) ----------------------------------------------------------------------------
@st.composite
def phase_stats(draw: st.DrawFn) -> PhaseStats:
    rated, predictions = draw(st.integers(0, 120)), draw(st.integers(0, 200))
    return PhaseStats(predictions=predictions, errors=draw(st.integers(0, predictions)), rated=rated,
                      satisfied=draw(st.integers(0, rated)),
                      mean_latency_ms=draw(st.none() | tenths.map(lambda t: t / 10)),
                      ok_predictions=draw(st.integers(0, 200)))


@PROPERTIES
@given(phase_stats(), phase_stats())
def test_a_check_is_insufficient_below_its_minimum_on_either_side_and_never_blames_a_candidate_doing_as_well(
        candidate: PhaseStats, stable: PhaseStats) -> None:
    checks = assess_phase_health(candidate, stable, POLICY).checks
    assert (checks["satisfaction"]["state"] == "insufficient") == (min(candidate.rated, stable.rated) < 30)
    assert (checks["error_rate"]["state"] == "insufficient") == (min(candidate.predictions, stable.predictions) < 50)
    if checks["satisfaction"]["state"] == "failed":
        assert candidate.satisfied * stable.rated < stable.satisfied * candidate.rated
    if checks["error_rate"]["state"] == "failed":
        assert candidate.errors * stable.predictions > stable.errors * candidate.predictions
    if checks["latency"]["state"] == "failed":
        assert candidate.mean_latency_ms > 1.5 * stable.mean_latency_ms  # type: ignore[operator]


@PROPERTIES
@given(st.integers(30, 400), st.integers(30, 4000), st.data())
def test_more_satisfied_candidate_ratings_never_turn_a_passing_comparison_into_a_failing_one(
        rated: int, stable_rated: int, data: st.DataObject) -> None:
    stable = PhaseStats(rated=stable_rated, satisfied=data.draw(st.integers(0, stable_rated)))
    satisfied = data.draw(st.integers(0, rated - 1))

    def state(k: int) -> str:
        return assess_phase_health(PhaseStats(rated=rated, satisfied=k), stable, POLICY).checks["satisfaction"]["state"]

    assert not (state(satisfied) == "ok" and state(satisfied + 1) == "failed")


@PROPERTIES
@given(phase_stats(), phase_stats(), st.integers(0, 200), st.booleans())
def test_a_failed_check_rolls_back_at_once_and_nothing_else_ever_does(candidate: PhaseStats, stable: PhaseStats,
                                                                      hours: int, extended: bool) -> None:
    health = assess_phase_health(candidate, stable, POLICY)
    decision = decide_phase(health, elapsed=timedelta(hours=hours), duration=timedelta(hours=24),
                            already_extended=extended, pause_after_factor=2)
    assert (decision == "roll_back") == bool(health.failed)
    if not health.failed and hours < 24:
        assert decision == "wait"


# -- routing (4.7) -----------------------------------------------------------------------------------------------
keys = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@PROPERTIES
@given(keys, keys, st.integers(1, 99))
def test_routing_is_the_sha256_bucket_below_percent_times_100_and_a_user_keeps_it_as_the_percent_grows(
        rollout: str, key: str, percent: int) -> None:
    expected = int.from_bytes(hashlib.sha256((rollout + key).encode()).digest()[:8], "big") % 10_000
    assert bucket(rollout, key) == expected == bucket(rollout, key)
    assert serves_candidate(expected, percent) == (expected < 100 * percent)
    if serves_candidate(expected, percent):
        assert all(serves_candidate(expected, more) for more in range(percent, 101))  # sticky as phases advance
    assert not serves_candidate(expected, 0) and serves_candidate(expected, 100)


@PROPERTIES
@given(st.integers(1, 99), st.integers(0, 9_999))
def test_the_candidate_serves_the_buckets_below_percent_times_100_and_no_other(percent: int, value: int) -> None:
    assert serves_candidate(100 * percent - 1, percent) and not serves_candidate(100 * percent, percent)
    assert serves_candidate(value, percent) == (value < 100 * percent)


@PROPERTIES
@given(st.none() | keys, keys)
def test_the_routing_key_is_the_user_ref_when_there_is_one(user_ref: str | None, prediction_id: str) -> None:
    assert routing_key(user_ref, prediction_id) == (user_ref or prediction_id)


@settings(deadline=None, database=None, max_examples=15, derandomize=True)
@given(st.uuids(), st.integers(1, 99))
def test_the_share_of_users_routed_to_the_candidate_converges_to_the_percent(rollout: object, percent: int) -> None:
    users = 20_000  # the share's standard deviation is at most 0.0035: 0.02 is more than 5 of them
    routed = sum(serves_candidate(bucket(str(rollout), f"user-{n}"), percent) for n in range(users))
    assert abs(routed / users - percent / 100) < 0.02
