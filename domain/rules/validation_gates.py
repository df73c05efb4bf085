"""Rule 4.6 ("tests de validation"): the candidate against its parent, measured side by side; and per image type, so
that a candidate repairing one segment cannot pay for it with another. A gate measured on too few items is not
measurable, and that rejects the candidate: no verdict is drawn from a handful of items, or from none. Each accuracy
gate records the paired comparison on its items (McNemar, the difference's interval); with `require_significance`,
the validation-accuracy gate also needs the interval's lower bound above 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from domain.payloads import GateResult, PairedResult
from domain.rules.paired_comparison import CONFIDENCE, significant
from domain.rules.verdicts import exact

NOT_MEASURABLE = "not_measurable"
NOT_SIGNIFICANT = "not_significant"  # better on accuracy, but the interval of the difference reaches 0 or below


@dataclass(frozen=True)
class ModelFigures:
    """What the evaluator measured for one model in the side-by-side run; None where there was nothing to measure on
    (no figure is ever computed over 0 items)."""

    validation_accuracy: float | None
    test_accuracy: float | None
    latency_ms: float | None


class ItemCounts(NamedTuple):
    """Items of the validation set (curated + original) and of the original test set: measured, or required."""

    validation: int
    test: int


class PairedOn(NamedTuple):
    """The paired comparisons of the validation set and of the original test set (None over 0 items)."""

    validation: PairedResult | None = None
    test: PairedResult | None = None


def gate(name: str, passed: bool, parent: float | None, candidate: float | None, limit: float | None, condition: str,
         items: int | None = None, min_items: int | None = None, reason: str | None = None, remedy: str | None = None,
         paired: PairedResult | None = None) -> GateResult:
    """One gate's verdict, as CandidateValidated and CandidateRejected record it. A gate that could not be measured
    fails with `reason` "not_measurable", its item count and the minimum it needed; `remedy` says what to attach (the
    application names the command). An accuracy gate carries the paired comparison of its items; a validation gate
    that fails only on significance has `reason` "not_significant"."""
    return GateResult(name=name, passed=passed, parent=parent, candidate=candidate, limit=limit, condition=condition,
                      items=items, min_items=min_items, reason=reason, remedy=remedy, paired=paired)


def measurable(gate: GateResult) -> bool:
    """Whether the gate had its minimum of items (a verdict recorded before the minimums always had)."""
    return gate.get("reason") != NOT_MEASURABLE


def judge_candidate(
    parent: ModelFigures, candidate: ModelFigures, *, items: ItemCounts, min_items: ItemCounts,
    max_test_regression: float, latency_factor: float, paired: PairedOn = PairedOn(),
    require_significance: bool = False,
) -> list[GateResult]:
    """Three gates: validation accuracy strictly better, test accuracy >= parent - 0.01, latency <= 1.5 x parent;
    each needs its minimum of items (the latency gate: one validation image to time), else it is not measurable.
    `require_significance`: the validation gate also needs the lower bound of the difference's interval above 0."""
    validation = _validation_gate(parent, candidate, items.validation, min_items.validation)
    if measurable(validation):
        validation = {**validation, "paired": paired.validation}
        validation = significance_required(validation) if require_significance else validation
    test = _test_gate(parent, candidate, items.test, min_items.test, max_test_regression)
    return [
        validation,
        {**test, "paired": paired.test} if measurable(test) else test,
        _latency_gate(parent, candidate, items.validation, latency_factor),
    ]


def significance_required(gate: GateResult) -> GateResult:
    """The gate also needs the candidate better with confidence: the lower bound of the interval of the difference
    above 0 (without a paired comparison, nothing shows it). Failing on that alone says so in `reason`."""
    paired = gate.get("paired")
    better = paired is not None and significant(paired)
    condition = f"{gate['condition']} and {CONFIDENCE:.0%} interval lower bound > 0"
    reason = NOT_SIGNIFICANT if gate["passed"] and not better else gate.get("reason")
    return {**gate, "passed": gate["passed"] and better, "condition": condition, "reason": reason}


def not_measurable(name: str, parent: float | None, candidate: float | None, condition: str, items: int,
                   minimum: int) -> GateResult:
    """The gate could not be measured: too few items (or none), so it fails whatever the figures say."""
    return gate(name, False, parent, candidate, None, condition, items, minimum, NOT_MEASURABLE)


def _pair(before: float | None, after: float | None, items: int, minimum: int) -> tuple[float, float] | None:
    """Both figures, when they were measured on at least `minimum` items."""
    return (before, after) if items >= minimum and before is not None and after is not None else None


def _validation_gate(parent: ModelFigures, candidate: ModelFigures, items: int, minimum: int) -> GateResult:
    condition = "candidate > parent"
    pair = _pair(parent.validation_accuracy, candidate.validation_accuracy, items, minimum)
    if pair is None:
        return not_measurable("validation_accuracy", parent.validation_accuracy, candidate.validation_accuracy,
                              condition, items, minimum)
    before, after = pair
    return gate("validation_accuracy", exact(after) > exact(before), before, after, before, condition, items, minimum)


def _test_gate(parent: ModelFigures, candidate: ModelFigures, items: int, minimum: int,
               max_regression: float) -> GateResult:
    condition = f"candidate >= parent - {max_regression}"
    pair = _pair(parent.test_accuracy, candidate.test_accuracy, items, minimum)
    if pair is None:
        return not_measurable("test_regression", parent.test_accuracy, candidate.test_accuracy, condition, items,
                              minimum)
    before, after = pair
    floor = exact(before) - exact(max_regression)
    return gate("test_regression", exact(after) >= floor, before, after, float(floor), condition, items, minimum)


def _latency_gate(parent: ModelFigures, candidate: ModelFigures, images: int, factor: float) -> GateResult:
    """Timed over a fixed number of calls on the validation images: one image to time is enough to measure it."""
    condition = f"candidate <= {factor} x parent"
    pair = _pair(parent.latency_ms, candidate.latency_ms, images, 1)
    if pair is None:
        return not_measurable("latency", parent.latency_ms, candidate.latency_ms, condition, images, 1)
    before, after = pair
    limit = exact(factor) * exact(before)
    return gate("latency", exact(after) <= limit, before, after, float(limit), condition, images, 1)


@dataclass(frozen=True)
class SegmentFigures:
    """Both models' accuracy on the validation items of one image type."""

    segment: str
    items: int
    parent: float
    candidate: float
    paired: PairedResult | None = None


def segment_gates(segments: list[SegmentFigures], *, max_regression: float, min_items: int) -> list[GateResult]:
    """One gate per image type with at least `min_items` validation items: candidate >= parent - max_regression.

    A type with fewer items is not judged (one item would move it by more than the limit)."""
    return [
        gate(
            f"segment_regression/{figures.segment}",
            exact(figures.candidate) >= exact(figures.parent) - exact(max_regression),
            figures.parent,
            figures.candidate,
            float(exact(figures.parent) - exact(max_regression)),
            f"candidate >= parent - {max_regression} on {figures.items} {figures.segment} items",
            figures.items,
            min_items,
            paired=figures.paired,
        )
        for figures in sorted(segments, key=lambda f: f.segment)
        if figures.items >= min_items
    ]
