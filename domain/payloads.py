"""The shapes of the event payloads that scripts read (`retrain history --json`, `explain --json`): breaches, gates,
figures and the samples they were measured on, and a rollout phase's health evidence. Stored as JSON objects."""

from __future__ import annotations

from typing import TypedDict


class BreachRef(TypedDict, total=False):
    """A breach as a campaign records it: the rule's figures, and the identity of its `ThresholdBreached`."""

    rule: str
    segment: str | None
    observed: float | None
    threshold: float
    window: int
    at: str  # RFC 3339
    event_id: str  # "<version id>:<its version number>"


class GateResult(TypedDict):
    """One validation gate (rule 4.6): parent and candidate side by side, the limit and the condition."""

    name: str
    passed: bool
    parent: float
    candidate: float
    limit: float
    condition: str


class MeasuredOn(TypedDict, total=False):
    """What one figure was measured on: the datasets, the split, and the items (or the calls, for latency)."""

    datasets: list[str]
    split: str
    items: int
    calls: int


class Figures(TypedDict, total=False):
    """A verdict's figures: parent and candidate, accuracy per image type, and what each figure was measured on."""

    parent: dict[str, float]
    candidate: dict[str, float]
    per_image_type: dict[str, dict[str, float]]
    measured_on: dict[str, MeasuredOn]


class HealthCheck(TypedDict):
    """One check of a rollout phase's health (rule 4.7): ok, failed or insufficient, on how many samples."""

    state: str
    observed: float | None
    threshold: float
    samples: int


PhaseEvidence = dict[str, HealthCheck]  # "satisfaction", "error_rate", "latency"
