"""The shapes of the event payloads that scripts read (`retrain history --json`, `explain --json`): breaches, gates,
figures and the samples they were measured on, and a rollout phase's health evidence. Stored as JSON objects."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class BreachRef(TypedDict, total=False):
    """A breach as a campaign records it: the rule's figures, and the identity of its `ThresholdBreached`."""

    rule: str
    segment: str | None
    observed: float | None
    threshold: float
    window: int
    at: str  # RFC 3339
    event_id: str  # "<version id>:<its version number>"


class CooldownRef(TypedDict):
    """Why a campaign opened on breaches already open: the campaign before it ended without a new version, and the
    cooldown (`campaigns.cooldown`) has passed since."""

    after_campaign: int
    outcome: str
    ended_at: str  # RFC 3339
    cooldown_s: float


class PairedCounts(TypedDict):
    """Parent and candidate on the same items: n items, b that only the parent got right, c only the candidate."""

    n: int
    b: int
    c: int


class PairedItems(TypedDict, total=False):
    """The paired counts an evaluator reports (rule 4.6): on the validation set, on the original test set, and on
    each image type of the validation set."""

    validation: PairedCounts
    test: PairedCounts
    per_image_type: dict[str, PairedCounts]


class PairedResult(TypedDict):
    """The paired comparison an accuracy gate records: the counts, the accuracy difference (candidate - parent) and
    its interval [low, high] at `confidence` (Tango's score interval), and McNemar's exact two-sided p-value."""

    n: int
    b: int
    c: int
    difference: float
    interval: list[float]
    p_value: float
    confidence: float


class GateResult(TypedDict):
    """One validation gate (rule 4.6): parent and candidate side by side, the limit and the condition, and the items
    it was measured on. A gate measured on fewer than its minimum of items has `reason` "not_measurable" (it failed),
    no limit, the figures that exist (none over 0 items) and a `remedy` naming what to attach. An accuracy gate
    measured on its items has `paired`; a validation gate that failed only for want of significance (with
    `validation.require_significance`) has `reason` "not_significant". Verdicts recorded before the minimums lack
    the last four keys, and those before the paired comparison lack `paired`."""

    name: str
    passed: bool
    parent: float | None
    candidate: float | None
    limit: float | None
    condition: str
    items: NotRequired[int | None]
    min_items: NotRequired[int | None]
    reason: NotRequired[str | None]
    remedy: NotRequired[str | None]
    paired: NotRequired[PairedResult | None]


class MeasuredOn(TypedDict, total=False):
    """What one figure was measured on: the datasets, the split, and the items (or the calls, for latency)."""

    datasets: list[str]
    split: str
    items: int
    calls: int


class Figures(TypedDict, total=False):
    """A verdict's figures: parent and candidate, accuracy per image type, what each figure was measured on, and the
    paired counts of both models on the same items."""

    parent: dict[str, float]
    candidate: dict[str, float]
    per_image_type: dict[str, dict[str, float]]
    measured_on: dict[str, MeasuredOn]
    paired: PairedItems


class HealthCheck(TypedDict):
    """One check of a rollout phase's health (rule 4.7): ok, failed or insufficient, on how many samples."""

    state: str
    observed: float | None
    threshold: float
    samples: int


PhaseEvidence = dict[str, HealthCheck]  # "satisfaction", "error_rate", "latency"
