"""Rule 4.6 as the application applies it: the gates over what the evaluator measured, each with the items it needs,
and how a verdict reads (`explain`, `tick`, the console)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from application.ports import Comparison
from domain.payloads import GateResult, PairedCounts, PairedResult
from domain.policy import ValidationPolicy
from domain.rules.paired_comparison import compare_paired
from domain.rules.validation_gates import (
    NOT_MEASURABLE,
    NOT_SIGNIFICANT,
    ItemCounts,
    PairedOn,
    SegmentFigures,
    judge_candidate,
    measurable,
    segment_gates,
)

# What a gate that could not be measured needs: which original set, and the option of `retrain model datasets`.
_ATTACH = {"test_regression": ("an original test set", "--test"),
           "validation_accuracy": ("an original validation set", "--val"),
           "latency": ("an original validation set", "--val")}


def measured_items(comparison: Comparison) -> ItemCounts:
    """The items the evaluator measured the validation and test figures on (0 where it says nothing)."""
    on = comparison.measured_on
    return ItemCounts(validation=int(on.get("validation_accuracy", {}).get("items", 0)),
                      test=int(on.get("test_accuracy", {}).get("items", 0)))


def judge_gates(comparison: Comparison, policy: ValidationPolicy, *, parent: str,
                candidate: str) -> list[GateResult]:
    """The three gates and one per image type, each accuracy gate with the paired comparison of its items; a gate
    that is not measurable names what to attach to `parent`."""
    minimums = ItemCounts(validation=policy.min_items.validation, test=policy.min_items.test)
    counts = comparison.paired
    gates = judge_candidate(comparison.parent, comparison.candidate, items=measured_items(comparison),
                            min_items=minimums, max_test_regression=policy.max_test_regression,
                            latency_factor=policy.latency_factor,
                            paired=PairedOn(compared(counts.get("validation")), compared(counts.get("test"))),
                            require_significance=policy.require_significance)
    per_type = counts.get("per_image_type", {})
    gates += segment_gates(
        [SegmentFigures(segment, int(figures["items"]), figures[parent], figures[candidate],
                        compared(per_type.get(segment)))
         for segment, figures in comparison.per_image_type.items()],
        max_regression=policy.max_segment_regression, min_items=policy.segment_min_items)
    return [with_remedy(gate, parent) for gate in gates]


def compared(counts: PairedCounts | None) -> PairedResult | None:
    """The paired comparison on the counts the evaluator reported; none where it reported none, or over 0 items."""
    return compare_paired(counts["n"], counts["b"], counts["c"]) if counts else None


def with_remedy(gate: GateResult, version: str) -> GateResult:
    """A gate that could not be measured, with the command that attaches what it lacks."""
    if measurable(gate) or gate["name"] not in _ATTACH:
        return gate
    what, option = _ATTACH[gate["name"]]
    return {**gate, "remedy": f"attach {what} with `retrain model datasets {version} {option} DIR`"}


def describe_gate(gate: Mapping[str, Any]) -> str:
    """One gate as a line reads it: "test_regression passed: candidate 0.97 vs parent 0.96 (...)", or
    "test_regression not measurable: 0 test items (at least 100); attach an original test set with `...`"."""
    if gate.get("reason") == NOT_MEASURABLE:
        unit = "test items" if gate["name"] == "test_regression" else "validation items"
        text = f"{gate['name']} not measurable: {gate.get('items')} {unit} (at least {gate.get('min_items')})"
        return text + (f"; {gate['remedy']}" if gate.get("remedy") else "")
    verdict = "passed" if gate["passed"] else "FAILED"
    if gate.get("reason") == NOT_SIGNIFICANT:
        verdict += ", not significant"
    comparison = f"; {describe_paired(gate['paired'])}" if gate.get("paired") else ""
    return (f"{gate['name']} {verdict}: candidate {_figure(gate['candidate'])} vs parent {_figure(gate['parent'])} "
            f"({gate['condition']}{comparison})")


def describe_paired(paired: Mapping[str, Any]) -> str:
    """A paired comparison as read: "difference +0.29, 95% interval +0.22..+0.36, McNemar p < 0.001"."""
    low, high = paired["interval"]
    p_value = paired["p_value"]
    p_text = "< 0.001" if p_value < 0.001 else f"= {p_value:.2g}"
    return (f"difference {signed(paired['difference'])}, {paired.get('confidence', 0.95):.0%} interval "
            f"{signed(low)}..{signed(high)}, McNemar p {p_text}")


def signed(value: float) -> str:
    """A difference with its sign, two decimals, or more for a small one so that it never reads as 0: +0.29, -0.0008."""
    decimals = 2 if value == 0 else min(8, max(2, -math.floor(math.log10(abs(value)))))
    return f"{value:+.{decimals}f}"


def describe_failed(gates: list[Mapping[str, Any]]) -> str:
    """The failed gates of a rejection, each with its figures or its item counts, for one line of output."""
    return "; ".join(describe_gate(gate) for gate in gates if not gate.get("passed"))


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"
