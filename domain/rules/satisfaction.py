"""Rule 4.1.1 (and 4.1.5 per image type): satisfaction under 70% over the last 100 rated predictions."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from domain.rules.verdicts import TriggerVerdict, exact, rate

SATISFACTION = "satisfaction"
IMAGE_TYPE = "image_type"


def evaluate_satisfaction(
    outcomes: Sequence[int],
    *,
    window: int,
    minimum: int,
    threshold: float,
    rule: str = SATISFACTION,
    segment: str | None = None,
) -> TriggerVerdict:
    """Breach iff satisfied / rated < threshold over the last `window` outcomes (1 satisfied, 0 not), from `minimum`."""
    recent = list(outcomes[-window:]) if window else []
    if len(recent) < minimum or not recent:
        return TriggerVerdict(rule, "not_evaluated", threshold, None, len(recent), segment)
    satisfied = sum(1 for outcome in recent if outcome)
    breached = Fraction(satisfied, len(recent)) < exact(threshold)
    return TriggerVerdict(
        rule,
        "breached" if breached else "ok",
        threshold,
        rate(satisfied, len(recent)),
        len(recent),
        segment,
        {"satisfied": satisfied, "rated": len(recent)},
    )


def evaluate_image_types(
    outcomes_by_type: dict[str, Sequence[int]], *, window: int, minimum: int, threshold: float
) -> list[TriggerVerdict]:
    """Rule 4.1.5: each image type's own satisfaction window, a breach per segment."""
    return [
        evaluate_satisfaction(
            outcomes, window=window, minimum=minimum, threshold=threshold, rule=IMAGE_TYPE, segment=image_type
        )
        for image_type, outcomes in sorted(outcomes_by_type.items())
    ]
