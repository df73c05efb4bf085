"""Rules 4.4 and 4.6 at their boundaries: when to retrain from scratch, and the three validation gates."""

from __future__ import annotations

from typing import Any

import pytest

from domain.rules.strategy import StrategyDecision, TriggeringBreach, choose_strategy
from domain.rules.validation_gates import ModelFigures, judge_candidate

DEFAULTS: dict[str, Any] = {
    "breaches": [], "curated_items": 50, "original_training_items": 1000, "fine_tunes_since_full": 0,
    "major_drift_below": 0.50, "curated_fraction_for_full": 0.20, "max_consecutive_fine_tunes": 3,
}


def decide(**changes: Any) -> StrategyDecision:
    return choose_strategy(**{**DEFAULTS, **changes})


def keys(decision: StrategyDecision) -> list[str]:
    return [reason.split(":")[0] for reason in decision.reasons]


# -- strategy -------------------------------------------------------------------------------------------------
def test_without_any_reason_the_strategy_is_fine_tuning() -> None:
    decision = decide()
    assert (decision.strategy, decision.forced) == ("fine_tune", False)
    assert decision.reasons == ["no reason for full retraining held"]


@pytest.mark.parametrize("rule", ["satisfaction", "image_type"])
@pytest.mark.parametrize(("observed", "strategy"), [(0.49, "full"), (0.499999, "full"), (0.50, "fine_tune"),
                                                    (0.69, "fine_tune")])
def test_a_satisfaction_or_image_type_breach_below_050_is_major_drift(rule: str, observed: float,
                                                                      strategy: str) -> None:
    decision = decide(breaches=[TriggeringBreach(rule, observed, "phone" if rule == "image_type" else None)])
    assert decision.strategy == strategy
    assert ("major_drift" in keys(decision)) is (strategy == "full")


@pytest.mark.parametrize("rule", ["latency", "error_rate", "negative_comments"])
def test_other_rules_never_count_as_major_drift_whatever_they_observe(rule: str) -> None:
    assert decide(breaches=[TriggeringBreach(rule, 0.01)]).strategy == "fine_tune"


def test_a_breach_without_an_observed_value_is_not_major_drift() -> None:
    assert decide(breaches=[TriggeringBreach("satisfaction", None)]).strategy == "fine_tune"


def test_the_drift_reason_names_the_rule_the_segment_and_the_observed_value() -> None:
    decision = decide(breaches=[TriggeringBreach("image_type", 0.3, "phone"), TriggeringBreach("satisfaction", 0.6)])
    assert decision.reasons == ["major_drift: image_type/phone observed 0.3 < 0.5"]


@pytest.mark.parametrize(("curated", "original", "strategy"), [
    (199, 1000, "fine_tune"), (200, 1000, "full"), (201, 1000, "full"), (19, 100, "fine_tune"), (20, 100, "full"),
    (5000, 0, "fine_tune"),
])
def test_curated_items_from_20_percent_of_the_original_training_set_call_for_full(curated: int, original: int,
                                                                                    strategy: str) -> None:
    decision = decide(curated_items=curated, original_training_items=original)
    assert decision.strategy == strategy
    assert ("significant_new_data" in keys(decision)) is (strategy == "full")


@pytest.mark.parametrize(("streak", "strategy"), [(0, "fine_tune"), (2, "fine_tune"), (3, "full"), (4, "full")])
def test_three_fine_tunes_in_a_row_call_for_full(streak: int, strategy: str) -> None:
    decision = decide(fine_tunes_since_full=streak)
    assert decision.strategy == strategy
    assert ("fine_tune_streak" in keys(decision)) is (strategy == "full")


def test_every_reason_that_holds_is_recorded() -> None:
    decision = decide(breaches=[TriggeringBreach("satisfaction", 0.2)], curated_items=300, fine_tunes_since_full=3)
    assert keys(decision) == ["major_drift", "significant_new_data", "fine_tune_streak"]


@pytest.mark.parametrize("forced", ["fine_tune", "full"])
def test_an_operator_forces_either_strategy_and_the_reasons_that_held_are_kept(forced: str) -> None:
    decision = decide(breaches=[TriggeringBreach("satisfaction", 0.2)], forced=forced)
    assert (decision.strategy, decision.forced) == (forced, True)
    assert keys(decision) == ["forced by operator", "major_drift"]


def test_an_unknown_forced_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        decide(forced="transfer")


# -- validation gates -----------------------------------------------------------------------------------------
PARENT = ModelFigures(validation_accuracy=0.80, test_accuracy=0.97, latency_ms=2.0)


def gates(candidate: ModelFigures, parent: ModelFigures = PARENT) -> dict[str, bool]:
    return {g.name: g.passed for g in judge_candidate(parent, candidate, max_test_regression=0.01,
                                                       latency_factor=1.5)}


@pytest.mark.parametrize(("validation", "passed"), [(0.81, True), (0.800001, True), (0.80, False), (0.79, False)])
def test_validation_accuracy_must_be_strictly_greater(validation: float, passed: bool) -> None:
    assert gates(ModelFigures(validation, 0.97, 2.0))["validation_accuracy"] is passed


@pytest.mark.parametrize(("parent", "candidate", "passed"), [
    (0.97, 0.97, True), (0.97, 0.96, True), (0.97, 0.959, False), (0.97, 0.95, False),
    (0.10, 0.09, True), (0.07, 0.06, True), (0.13, 0.12, True), (0.10, 0.0899, False),
])
def test_test_accuracy_may_lose_at_most_one_point(parent: float, candidate: float, passed: bool) -> None:
    assert gates(ModelFigures(0.9, candidate, 2.0), ModelFigures(0.8, parent, 2.0))["test_regression"] is passed


@pytest.mark.parametrize(("parent", "candidate", "passed"), [
    (2.0, 3.0, True), (2.0, 3.0001, False), (0.7, 1.05, True), (0.7, 1.0501, False), (2.0, 1.0, True),
])
def test_latency_may_be_at_most_one_and_a_half_times_the_parents(parent: float, candidate: float,
                                                                  passed: bool) -> None:
    assert gates(ModelFigures(0.9, 0.97, candidate), ModelFigures(0.8, 0.97, parent))["latency"] is passed


def test_each_gate_carries_its_figures_and_limit() -> None:
    judged = {g.name: g for g in judge_candidate(PARENT, ModelFigures(0.75, 0.90, 4.0), max_test_regression=0.01,
                                                  latency_factor=1.5)}
    assert [(g.passed, g.parent, g.candidate, g.limit) for g in judged.values()] == [
        (False, 0.80, 0.75, 0.80), (False, 0.97, 0.90, 0.96), (False, 2.0, 4.0, 3.0),
    ]
    assert list(judged) == ["validation_accuracy", "test_regression", "latency"]


def test_a_candidate_better_everywhere_passes_all_three_gates() -> None:
    assert gates(ModelFigures(0.9, 0.98, 1.0)) == {"validation_accuracy": True, "test_regression": True,
                                                   "latency": True}
