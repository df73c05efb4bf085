"""Rule 4.4: targeted fine-tuning, or full retraining when drift is major or new data is significant (and the
lineage has the original training set that full retraining starts from)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, NamedTuple

from domain.rules.verdicts import exact

Strategy = Literal["fine_tune", "full"]
STRATEGIES: tuple[Strategy, ...] = ("fine_tune", "full")
DRIFT_RULES = ("satisfaction", "image_type")
FULL_UNAVAILABLE = "full_unavailable: the lineage has no original training set to retrain from; fine-tuning instead"


class TriggeringBreach(NamedTuple):
    """A breach that opened or joined the campaign, as the strategy sees it."""

    rule: str
    observed: float | None
    segment: str | None = None


@dataclass(frozen=True)
class StrategyDecision:
    strategy: Strategy
    reasons: list[str]
    forced: bool = False


def major_drift_reasons(breaches: Iterable[TriggeringBreach], *, below: float) -> list[str]:
    """One reason per satisfaction or image-type breach observed strictly below `below`."""
    return [
        f"major_drift: {breach.rule}{'/' + breach.segment if breach.segment else ''} "
        f"observed {breach.observed} < {below}"
        for breach in breaches
        if breach.rule in DRIFT_RULES and breach.observed is not None and exact(breach.observed) < exact(below)
    ]


def choose_strategy(
    *,
    breaches: Iterable[TriggeringBreach],
    curated_items: int,
    original_training_items: int,
    fine_tunes_since_full: int,
    major_drift_below: float,
    curated_fraction_for_full: float,
    max_consecutive_fine_tunes: int,
    forced: Strategy | None = None,
) -> StrategyDecision:
    """Full iff a satisfaction/image-type breach < 0.50, curated >= 20% of the original set, or 3 fine-tunes in a row.

    Full retraining starts from the lineage's original training set (`original_training_items`, 0 when it has none):
    without one, `full_unavailable` is recorded beside the reasons that held, and it fine-tunes."""
    available = original_training_items > 0
    reasons = major_drift_reasons(breaches, below=major_drift_below)
    if available and Fraction(curated_items, original_training_items) >= exact(curated_fraction_for_full):
        reasons.append(
            f"significant_new_data: {curated_items} curated items >= {curated_fraction_for_full:.0%} "
            f"of {original_training_items} original"
        )
    if fine_tunes_since_full >= max_consecutive_fine_tunes:
        reasons.append(f"fine_tune_streak: {fine_tunes_since_full} fine-tunes in a row since the last full retraining")
    if reasons and not available:
        reasons.append(FULL_UNAVAILABLE)
    if forced is not None:
        return _forced(forced, reasons, available)
    if reasons and available:
        return StrategyDecision("full", reasons)
    return StrategyDecision("fine_tune", reasons or ["no reason for full retraining held"])


def _forced(forced: Strategy, reasons: list[str], full_available: bool) -> StrategyDecision:
    if forced not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
    if forced == "full" and not full_available:
        raise ValueError("full retraining needs the lineage's original training set")
    return StrategyDecision(forced, [f"forced by operator: {forced}", *reasons], forced=True)
