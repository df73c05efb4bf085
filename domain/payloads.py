"""The shapes of the event payloads that scripts read (`retrain history --json`, `explain --json`): a version's input
spec, training config and metrics; breaches and their evidence; gates, figures and the samples they were measured on;
a campaign's dataset and how it ended; a rollout phase's health evidence. Stored as JSON objects: each is one type from
the rule that builds it to the event that records it, and the commands of the aggregates take them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict


class InputSpec(TypedDict, total=False):
    """What a model's input is: grey ("L") or "RGB" images of `size` [height, width], normalised by mean and std."""

    mode: str
    size: list[int]
    mean: list[float]
    std: list[float]


class ArchitectureOptions(TypedDict, total=False):
    """A team architecture's keyword arguments (a JSON object) and the directory it is imported from."""

    kwargs: dict[str, Any]
    path: str


class TrainingConfig(TypedDict, total=False):
    """What a version was trained with. Rule 4.5's hyper-parameters for its strategy (`TrainingStarted`), the
    lineage's original dataset, and the choices training made (recorded with the candidate's `Registered`): drift
    matching, rehearsal, the learning rate chosen among those tried. A version registered by a team has `source`
    "registered" and what its intake did (`intake`) instead of hyper-parameters."""

    learning_rate: float
    learning_rates: list[float]
    max_epochs: int
    small_set_items: int
    small_set_max_epochs: int
    plateau_factor: float
    patience: int
    batch_size: int
    world_size: int
    drift_matching: bool
    balanced_validation: bool
    rehearsal_max: int
    rehearsal_ratio: float
    rehearsal_min: int
    original_dataset_id: str | None
    original_sizes: dict[str, int]
    original_sources: dict[str, str]
    source: str
    intake: list[str]
    drift_estimates: list[dict[str, float | int | str | bool]]
    drift_matched_items: int
    drift_matched_validation_items: int
    rehearsal_items: int
    learning_rates_tried: dict[str, float]  # learning rate -> best validation loss


class TrainingMetrics(TypedDict, total=False):
    """What training measured (or, for a version registered by a team, its intake: accuracy and items per split)."""

    best_epoch: int
    epochs_run: int
    validation_accuracy: float
    validation_loss: float
    validation_items: int
    train_accuracy: float
    train_items: int
    curated_train_items: int
    seconds: float
    device: str
    world_size: int
    test_accuracy: float
    test_items: int
    original_train_items: int


class BreachEvidence(TypedDict, total=False):
    """What a trigger rule counted beside its figure: the satisfied outcomes over the rated ones, the negative
    comments per term, the errors over the predictions, the latency baseline and factor."""

    satisfied: int
    rated: int
    per_term: dict[str, int]
    negative_comments: int
    errors: int
    predictions: int
    baseline_ms: float
    factor: float


class WindowFigures(TypedDict):
    """A trigger rule's figure over its window, as ThresholdRecovered records it beside the rule and segment: what it
    observed (None below its minimum), the threshold, and how many outcomes (or predictions) the window held."""

    observed: float | None
    threshold: float
    window_size: int


class BreachFigures(WindowFigures):
    """A breach's figures, as ThresholdBreached records them: the window's bounds, and what the rule counted."""

    window_start: datetime | None
    window_end: datetime | None
    evidence: BreachEvidence


class BreachRef(TypedDict, total=False):
    """A breach as a campaign records it: the rule's figures, and the identity of its `ThresholdBreached`."""

    rule: str
    segment: str | None
    observed: float | None
    threshold: float
    window: int
    at: str  # RFC 3339
    event_id: str  # "<version id>:<its version number>"


class CuratedDataset(TypedDict):
    """A campaign's curated dataset (rule 4.3, `DatasetCurated`): its items, those left out and why, where the labels
    came from, the critical items awaiting review, and the per-item report (absent from events recorded before it)."""

    dataset_id: str
    included: int
    train_items: int
    validation_items: int
    excluded: dict[str, int]
    label_sources: dict[str, int]
    awaiting_review: list[str]
    report_id: NotRequired[str | None]


class DatasetAmendment(TypedDict):
    """A campaign's datasets re-written without an erased user's items (SPEC 7, `DatasetAmended`): the curated one and
    the reviewed one (None: unchanged, already used for training), the report, and the counts that remain."""

    dataset_id: str | None
    final_id: str | None
    report_id: str | None
    removed: int
    included: int
    train_items: int
    validation_items: int
    awaiting_review: list[str]
    reason: str


class CompletionDetails(TypedDict, total=False):
    """How a campaign ended: with too few training items (`insufficient_data`: the items and the minimum), or with
    its candidate validated or rejected (the candidate's label, and the gates it failed)."""

    train_items: int
    minimum: int
    candidate: str
    failed: list[str]


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
    """One check of a rollout phase's health (rule 4.7) and the evidence a person needs to agree: ok, failed or
    insufficient; the candidate's figure and samples against the threshold; the stable version's; the always-valid
    interval [low, high] of the difference, the statistic against "no worse" (rejected at 1/alpha), alpha and the
    margin; and what decided (`rule`: "comparison", "floor", or why the floor was set aside). Evidence recorded
    before the comparison with the stable version has the first four keys only."""

    state: str
    observed: float | None  # the candidate's own figure
    threshold: float
    samples: int  # the candidate's sample
    stable: NotRequired[float | None]
    stable_samples: NotRequired[int]
    difference: NotRequired[float | None]
    low: NotRequired[float | None]
    high: NotRequired[float | None]
    statistic: NotRequired[float | None]
    alpha: NotRequired[float]
    margin: NotRequired[float]
    rule: NotRequired[str]


PhaseEvidence = dict[str, HealthCheck]  # by check: "satisfaction", "satisfaction/<type>", "error_rate", "latency", ...


class RestoredVersion(TypedDict):
    """Why a version was rolled back by a restore (rule 4.8) rather than by its rollout: the version restored."""

    restored: str
