"""Rules 4.4 and 4.6 at their boundaries: when to retrain from scratch (and when it cannot), and the three validation
gates with the items each needs."""

from __future__ import annotations

from typing import Any

import pytest

from domain.payloads import GateResult
from domain.rules import validation_gates
from domain.rules.strategy import StrategyDecision, TriggeringBreach, choose_strategy
from domain.rules.validation_gates import NOT_MEASURABLE, ItemCounts, ModelFigures, judge_candidate

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


# -- strategy without an original training set ----------------------------------------------------------------
@pytest.mark.parametrize(("changes", "held"), [
    ({"breaches": [TriggeringBreach("satisfaction", 0.2)]}, ["major_drift"]),
    ({"fine_tunes_since_full": 3}, ["fine_tune_streak"]),
    ({"breaches": [TriggeringBreach("image_type", 0.1, "phone")], "fine_tunes_since_full": 5},
     ["major_drift", "fine_tune_streak"]),
])
def test_without_an_original_training_set_the_reasons_for_full_are_kept_with_full_unavailable_and_it_fine_tunes(
        changes: dict[str, Any], held: list[str]) -> None:
    decision = decide(original_training_items=0, **changes)
    assert (decision.strategy, decision.forced) == ("fine_tune", False)
    assert keys(decision) == [*held, "full_unavailable"]


def test_with_one_original_training_item_full_retraining_is_available() -> None:
    decision = decide(original_training_items=1, breaches=[TriggeringBreach("satisfaction", 0.2)])
    assert decision.strategy == "full" and "full_unavailable" not in keys(decision)


def test_without_an_original_training_set_and_no_reason_for_full_it_is_plain_fine_tuning() -> None:
    assert decide(original_training_items=0).reasons == ["no reason for full retraining held"]


def test_curated_items_are_not_significant_against_an_original_training_set_that_does_not_exist() -> None:
    assert decide(curated_items=5000, original_training_items=0).reasons == ["no reason for full retraining held"]


def test_forcing_full_retraining_without_an_original_training_set_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the lineage's original training set"):
        decide(original_training_items=0, forced="full")


def test_forcing_fine_tuning_without_an_original_training_set_records_that_full_was_unavailable() -> None:
    decision = decide(original_training_items=0, forced="fine_tune", fine_tunes_since_full=3)
    assert (decision.strategy, decision.forced) == ("fine_tune", True)
    assert keys(decision) == ["forced by operator", "fine_tune_streak", "full_unavailable"]


# -- validation gates -----------------------------------------------------------------------------------------
PARENT = ModelFigures(validation_accuracy=0.80, test_accuracy=0.97, latency_ms=2.0)


MINIMUMS = ItemCounts(validation=20, test=100)
ENOUGH = ItemCounts(validation=200, test=270)


def judged(candidate: ModelFigures, parent: ModelFigures = PARENT,
           items: ItemCounts = ENOUGH) -> dict[str, GateResult]:
    return {g["name"]: g for g in judge_candidate(parent, candidate, items=items, min_items=MINIMUMS,
                                                  max_test_regression=0.01, latency_factor=1.5)}


def gates(candidate: ModelFigures, parent: ModelFigures = PARENT, items: ItemCounts = ENOUGH) -> dict[str, bool]:
    return {name: gate["passed"] for name, gate in judged(candidate, parent, items).items()}


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
    recorded = judged(ModelFigures(0.75, 0.90, 4.0))
    assert [(g["passed"], g["parent"], g["candidate"], g["limit"], g["items"], g["reason"])
            for g in recorded.values()] == [
        (False, 0.80, 0.75, 0.80, 200, None), (False, 0.97, 0.90, 0.96, 270, None), (False, 2.0, 4.0, 3.0, 200, None),
    ]
    assert list(recorded) == ["validation_accuracy", "test_regression", "latency"]


def test_a_candidate_better_everywhere_passes_all_three_gates() -> None:
    assert gates(ModelFigures(0.9, 0.98, 1.0)) == {"validation_accuracy": True, "test_regression": True,
                                                   "latency": True}


# -- the items each gate needs --------------------------------------------------------------------------------
BETTER = ModelFigures(0.9, 0.98, 1.0)


@pytest.mark.parametrize(("test_items", "measurable"), [(270, True), (100, True), (99, False), (1, False)])
def test_the_test_regression_gate_needs_100_test_items(test_items: int, measurable: bool) -> None:
    gate = judged(BETTER, items=ItemCounts(validation=200, test=test_items))["test_regression"]
    assert (gate["passed"], validation_gates.measurable(gate), gate["items"], gate["min_items"]) == (
        measurable, measurable, test_items, 100)
    assert gate["reason"] == (None if measurable else NOT_MEASURABLE)


@pytest.mark.parametrize(("validation_items", "measurable"), [(200, True), (20, True), (19, False), (1, False)])
def test_the_validation_accuracy_gate_needs_20_validation_items(validation_items: int, measurable: bool) -> None:
    gate = judged(BETTER, items=ItemCounts(validation=validation_items, test=270))["validation_accuracy"]
    assert (gate["passed"], validation_gates.measurable(gate), gate["items"], gate["min_items"]) == (
        measurable, measurable, validation_items, 20)


def test_a_gate_measured_on_too_few_items_fails_even_when_its_figures_would_pass_and_keeps_them() -> None:
    gate = judged(BETTER, items=ItemCounts(validation=200, test=99))["test_regression"]
    assert (gate["passed"], gate["parent"], gate["candidate"], gate["limit"]) == (False, 0.97, 0.98, None)
    assert gate["condition"] == "candidate >= parent - 0.01"


def test_without_an_original_test_set_the_test_gate_is_not_measurable_and_has_no_figure() -> None:
    no_test = ModelFigures(0.9, None, 1.0)
    gate = judged(no_test, ModelFigures(0.8, None, 2.0), ItemCounts(validation=200, test=0))["test_regression"]
    assert (gate["passed"], gate["reason"], gate["items"], gate["parent"], gate["candidate"], gate["limit"]) == (
        False, NOT_MEASURABLE, 0, None, None, None)


def test_without_any_validation_item_the_validation_and_latency_gates_are_not_measurable() -> None:
    nothing = ModelFigures(None, 0.98, None)
    recorded = judged(nothing, ModelFigures(None, 0.97, None), ItemCounts(validation=0, test=270))
    assert {name: (g["passed"], g["reason"], g["items"]) for name, g in recorded.items()} == {
        "validation_accuracy": (False, NOT_MEASURABLE, 0), "test_regression": (True, None, 270),
        "latency": (False, NOT_MEASURABLE, 0)}


def test_the_latency_gate_is_measured_from_one_validation_image_since_it_times_a_fixed_number_of_calls() -> None:
    gate = judged(BETTER, items=ItemCounts(validation=1, test=270))["latency"]
    assert (gate["passed"], gate["items"], gate["min_items"]) == (True, 1, 1)


def test_a_figure_missing_on_one_side_makes_its_gate_not_measurable_whatever_the_count() -> None:
    gate = judged(ModelFigures(0.9, None, 1.0), items=ItemCounts(validation=200, test=270))["test_regression"]
    assert (gate["passed"], gate["reason"]) == (False, NOT_MEASURABLE)
