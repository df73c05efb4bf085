"""Rule 4.6 ("tests de validation"): the candidate against its parent, measured side by side; and per image type, so
that a candidate repairing one segment cannot pay for it with another."""

from __future__ import annotations

from dataclasses import dataclass

from domain.rules.verdicts import exact


@dataclass(frozen=True)
class ModelFigures:
    """What the evaluator measured for one model in the side-by-side run."""

    validation_accuracy: float
    test_accuracy: float
    latency_ms: float


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    parent: float
    candidate: float
    limit: float
    condition: str


def judge_candidate(
    parent: ModelFigures, candidate: ModelFigures, *, max_test_regression: float, latency_factor: float
) -> list[Gate]:
    """Three gates: validation accuracy strictly better, test accuracy >= parent - 0.01, latency <= 1.5 x parent."""
    test_floor = exact(parent.test_accuracy) - exact(max_test_regression)
    latency_limit = exact(latency_factor) * exact(parent.latency_ms)
    return [
        Gate(
            "validation_accuracy",
            exact(candidate.validation_accuracy) > exact(parent.validation_accuracy),
            parent.validation_accuracy,
            candidate.validation_accuracy,
            parent.validation_accuracy,
            "candidate > parent",
        ),
        Gate(
            "test_regression",
            exact(candidate.test_accuracy) >= test_floor,
            parent.test_accuracy,
            candidate.test_accuracy,
            float(test_floor),
            f"candidate >= parent - {max_test_regression}",
        ),
        Gate(
            "latency",
            exact(candidate.latency_ms) <= latency_limit,
            parent.latency_ms,
            candidate.latency_ms,
            float(latency_limit),
            f"candidate <= {latency_factor} x parent",
        ),
    ]


@dataclass(frozen=True)
class SegmentFigures:
    """Both models' accuracy on the validation items of one image type."""

    segment: str
    items: int
    parent: float
    candidate: float


def segment_gates(segments: list[SegmentFigures], *, max_regression: float, min_items: int) -> list[Gate]:
    """One gate per image type with at least `min_items` validation items: candidate >= parent - max_regression.

    A type with fewer items is not judged (one item would move it by more than the limit)."""
    return [
        Gate(
            f"segment_regression/{figures.segment}",
            exact(figures.candidate) >= exact(figures.parent) - exact(max_regression),
            figures.parent,
            figures.candidate,
            float(exact(figures.parent) - exact(max_regression)),
            f"candidate >= parent - {max_regression} on {figures.items} {figures.segment} items",
        )
        for figures in sorted(segments, key=lambda f: f.segment)
        if figures.items >= min_items
    ]
