"""Rule 4.4: targeted fine-tuning, or full retraining when drift is major or new data is significant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from domain.rules.verdicts import exact

Strategy = Literal["fine_tune", "full"]
STRATEGIES: tuple[Strategy, ...] = ("fine_tune", "full")


@dataclass(frozen=True)
class StrategyDecision:
    strategy: Strategy
    reasons: list[str]
    forced: bool = False


def choose_strategy(
    *,
    breaches: Iterable[tuple[str, float | None]],
    curated_items: int,
    original_training_items: int,
    fine_tunes_since_full: int,
    major_drift_below: float,
    curated_fraction_for_full: float,
    max_consecutive_fine_tunes: int,
    forced: Strategy | None = None,
) -> StrategyDecision:
    """Full iff a satisfaction/image-type breach < 0.50, curated >= 20% of the original set, or 3 fine-tunes in a row."""
    reasons = []
    drift = [
        observed for rule, observed in breaches
        if rule in ("satisfaction", "image_type") and observed is not None and exact(observed) < exact(major_drift_below)
    ]
    if drift:
        reasons.append(f"major_drift: satisfaction {min(drift)} < {major_drift_below}")
    if original_training_items and Fraction(curated_items, original_training_items) >= exact(curated_fraction_for_full):
        reasons.append(
            f"significant_new_data: {curated_items} curated items >= {curated_fraction_for_full:.0%} "
            f"of {original_training_items} original"
        )
    if fine_tunes_since_full >= max_consecutive_fine_tunes:
        reasons.append(f"fine_tune_streak: {fine_tunes_since_full} fine-tunes since the last full retraining")
    if forced:
        return StrategyDecision(forced, [f"forced by operator: {forced}", *reasons], forced=True)
    if reasons:
        return StrategyDecision("full", reasons)
    return StrategyDecision("fine_tune", ["no reason for full retraining held"])
