"""Rule 4.3 ("extraction des données de feedback"): which feedback items enter the training set, and why not."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from domain.rules.labels import extract_label
from domain.rules.verdicts import exact

EXCLUSION_REASONS = ("no_consent", "not_negative", "no_label", "corrupted", "inconsistent", "duplicate")
LABEL_SOURCES = ("corrected_label", "comment")
LabelSource = Literal["corrected_label", "comment"]


def item_reference(prediction_id: str) -> str:
    """The opaque name of a feedback item in events, reviews and datasets (SPEC 7): a digest of its prediction id,
    so that no client-chosen identifier is ever recorded verbatim in the log. The curation report maps each one back
    for whoever may read the feedback store."""
    return "i" + hashlib.sha256(prediction_id.encode()).hexdigest()[:15]


@dataclass(frozen=True)
class Candidate:
    """A prediction with feedback, as curation sees it at curation time."""

    item: str
    prediction_id: str
    predicted_label: str
    predicted_at: datetime
    feedback_at: datetime
    consent: bool
    feedback: int | None
    corrected_label: str | None = None
    comment: str | None = None
    confidence: float | None = None
    image_sha256: str | None = None
    image_ok: bool = False
    image_type: str = "unknown"


@dataclass(frozen=True)
class SelectedItem:
    candidate: Candidate
    label: str
    label_source: LabelSource


@dataclass(frozen=True)
class Curation:
    selected: list[SelectedItem]
    excluded: dict[str, str]  # item -> reason
    excluded_counts: dict[str, int] = field(default_factory=dict)
    label_sources: dict[str, int] = field(default_factory=dict)


def user_label(candidate: Candidate, classes: Sequence[str]) -> tuple[str, LabelSource] | None:
    """The structured corrected_label first, else exactly one class extracted from the comment."""
    if candidate.corrected_label:
        return candidate.corrected_label, "corrected_label"
    extracted = extract_label(candidate.comment, classes)
    return (extracted, "comment") if extracted else None


def _individual_reason(candidate: Candidate, label: tuple[str, LabelSource] | None,
                       classes: Sequence[str]) -> str | None:
    if not candidate.consent:
        return "no_consent"
    if candidate.feedback != 0:
        return "not_negative"
    if label is None:
        return "no_label"
    if not candidate.image_sha256 or not candidate.image_ok:
        return "corrupted"
    value = label[0]
    if value not in classes or value == candidate.predicted_label or candidate.feedback_at < candidate.predicted_at:
        return "inconsistent"
    return None


def curate(candidates: Sequence[Candidate], classes: Sequence[str]) -> Curation:
    """Select or exclude every candidate with exactly one reason, checked in the order of EXCLUSION_REASONS."""
    excluded: dict[str, str] = {}
    survivors: list[SelectedItem] = []
    for candidate in candidates:
        label = user_label(candidate, classes)
        reason = _individual_reason(candidate, label, classes)
        if reason:
            excluded[candidate.item] = reason
        else:
            assert label is not None
            survivors.append(SelectedItem(candidate, label[0], label[1]))
    consistent = _drop_images_with_two_labels(survivors, excluded)
    selected = _keep_latest_per_image(consistent, excluded)
    counts = Counter(excluded.values())
    sources = Counter(item.label_source for item in selected)
    return Curation(
        selected,
        excluded,
        {reason: counts.get(reason, 0) for reason in EXCLUSION_REASONS},
        {source: sources.get(source, 0) for source in LABEL_SOURCES},
    )


def _drop_images_with_two_labels(items: list[SelectedItem], excluded: dict[str, str]) -> list[SelectedItem]:
    """An image (sha256) that carries two different user labels is inconsistent wherever it appears."""
    labels_per_image: dict[str, set[str]] = defaultdict(set)
    for item in items:
        labels_per_image[item.candidate.image_sha256 or ""].add(item.label)
    kept = []
    for item in items:
        if len(labels_per_image[item.candidate.image_sha256 or ""]) > 1:
            excluded[item.candidate.item] = "inconsistent"
        else:
            kept.append(item)
    return kept


def _keep_latest_per_image(items: list[SelectedItem], excluded: dict[str, str]) -> list[SelectedItem]:
    """The same image selected twice: keep the latest feedback (ingestion order breaks ties), the rest are
    duplicates."""
    latest: dict[str, SelectedItem] = {}
    for item in items:
        sha = item.candidate.image_sha256 or ""
        kept = latest.get(sha)
        if kept is None or item.candidate.feedback_at >= kept.candidate.feedback_at:
            if kept is not None:
                excluded[kept.candidate.item] = "duplicate"
            latest[sha] = item
        else:
            excluded[item.candidate.item] = "duplicate"
    return [item for item in items if latest[item.candidate.image_sha256 or ""] is item]


def critical_reasons(
    item: SelectedItem, selected_per_label: dict[str, int], *, critical_confidence: float, rare_class_min: int
) -> list[str]:
    """Why an item needs a human decision: a label read from a comment, a confident model, a rare class."""
    reasons = []
    if item.label_source == "comment":
        reasons.append("label_from_comment")
    confidence = item.candidate.confidence
    if confidence is not None and exact(confidence) >= exact(critical_confidence):
        reasons.append("confident_but_wrong")
    if selected_per_label.get(item.label, 0) < rare_class_min:
        reasons.append("rare_class")
    return reasons


def split_for(image_sha256: str, *, validation_fraction: float) -> Literal["train", "validation"]:
    """Deterministic split by image hash: the first 8 bytes mod 10,000 below fraction x 10,000 go to validation."""
    bucket = int.from_bytes(bytes.fromhex(image_sha256)[:8], "big") % 10_000
    return "validation" if bucket < round(validation_fraction * 10_000) else "train"


def enough_training_items(train_items: int, *, minimum: int) -> bool:
    """A dataset with fewer than `minimum` training items ends the campaign with insufficient_data."""
    return train_items >= minimum
