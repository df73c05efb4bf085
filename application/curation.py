"""Curation (rule 4.3): candidates from the feedback store become a content-addressed dataset and a review queue."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from application.ports import BlobStore, ImageDecodeError, Predictor, ReviewQueue
from application.records import ReviewItem
from domain.model_version import ModelVersion
from domain.policy import CurationPolicy
from domain.rules.curation import Candidate, SelectedItem, critical_reasons, curate, split_for, user_label

UNLABELLED_MAX = 2000
IMAGE_CHUNK = 256  # images read at once by curation: one batch of concurrent reads, bounded in memory


@dataclass(frozen=True)
class CuratedDataset:
    dataset_id: str
    manifest: dict[str, Any]
    included: int
    train_items: int
    validation_items: int
    excluded: dict[str, int]
    label_sources: dict[str, int]
    critical: list[ReviewItem]
    report_id: str | None = None


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical JSON: the same items give the same bytes, hence the same dataset id."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def store_manifest(blobs: BlobStore, manifest: dict[str, Any]) -> str:
    """Write the manifest; its sha256 is the dataset id."""
    data = manifest_bytes(manifest)
    dataset_id = blobs.put(data)
    assert dataset_id == hashlib.sha256(data).hexdigest()
    return dataset_id


class Curator:
    """Selects, excludes with one reason each, splits by image hash, and flags critical items."""

    def __init__(
        self, *, feedback: ReviewQueue, blobs: BlobStore, predictor: Predictor, policy: CurationPolicy
    ) -> None:
        self.feedback = feedback
        self.blobs = blobs
        self.predictor = predictor
        self.policy = policy

    def curate(
        self, *, campaign_id: str, version: ModelVersion, version_ids: list[str], earlier_version_ids: list[str],
        since: datetime | None, as_of: datetime, review_required: bool, minimum_train_items: int,
    ) -> CuratedDataset:
        """The campaign version's feedback, and earlier versions' feedback since the last used dataset."""
        checked = self._checked(self._candidates(version_ids, earlier_version_ids, since=since, as_of=as_of),
                                version)
        result = curate(checked, version.classes)
        splits = {item.candidate.item: split_for(item.candidate.image_sha256 or "",
                                                 validation_fraction=self.policy.validation_fraction)
                  for item in result.selected}
        train_items = sum(1 for split in splits.values() if split == "train")
        # A dataset too small to train on ends the campaign: nobody is asked to review it.
        critical = self._critical(result.selected) if review_required and train_items >= minimum_train_items else {}
        entries = [self._entry(item, splits[item.candidate.item],
                               "pending" if item.candidate.item in critical else "accepted")
                   for item in result.selected]
        manifest = {"classes": list(version.classes), "input_spec": version.input_spec, "items": entries}
        unlabelled = self._unlabelled(checked, {item.candidate.item for item in result.selected})
        if unlabelled:
            manifest["unlabelled"] = unlabelled
        review_items = [
            ReviewItem(campaign_id, item.candidate.item, item.candidate.prediction_id, item.label,
                       item.label_source, tuple(critical[item.candidate.item]), item.candidate.image_sha256 or "")
            for item in result.selected if item.candidate.item in critical
        ]
        dataset_id = store_manifest(self.blobs, manifest)
        report = curation_report(dataset_id, checked, version.classes, entries, result.excluded, critical)
        return CuratedDataset(
            dataset_id, manifest, len(entries), train_items, len(entries) - train_items,
            result.excluded_counts, result.label_sources, review_items,
            self.blobs.put(manifest_bytes(report)),
        )

    def _candidates(self, version_ids: list[str], earlier_version_ids: list[str], *, since: datetime | None,
                    as_of: datetime) -> list[Candidate]:
        return [
            *self.feedback.curation_candidates(version_ids, since=None, as_of=as_of),
            *(self.feedback.curation_candidates(earlier_version_ids, since=since, as_of=as_of)
              if earlier_version_ids else []),
        ]

    @staticmethod
    def _unlabelled(checked: list[Candidate], selected: set[str]) -> list[dict[str, str]]:
        """Consented images of dissatisfied users that curation could not label (a 0 without a usable label): they
        show how a segment's images look now that users complain, for the training's drift matching. Satisfied
        users' images are left out: most were taken before the drift. Only consented ones, as for every dataset
        item; at most UNLABELLED_MAX per image type, the most recent first."""
        per_type: Counter[str] = Counter()
        kept = []
        for candidate in sorted(checked, key=lambda c: (c.feedback_at, c.item), reverse=True):
            if candidate.consent and candidate.feedback == 0 and candidate.image_ok and candidate.item not in selected \
                    and candidate.image_sha256 and per_type[candidate.image_type] < UNLABELLED_MAX:
                per_type[candidate.image_type] += 1
                kept.append({"item": candidate.item, "image_sha256": candidate.image_sha256,
                             "image_type": candidate.image_type})
        return sorted(kept, key=lambda entry: entry["item"])

    def _critical(self, selected: list[SelectedItem]) -> dict[str, list[str]]:
        per_label = Counter(item.label for item in selected)
        return {
            item.candidate.item: reasons
            for item in selected
            if (reasons := critical_reasons(item, per_label, critical_confidence=self.policy.critical_confidence,
                                            rare_class_min=self.policy.rare_class_min))
        }

    def _checked(self, candidates: list[Candidate], version: ModelVersion) -> list[Candidate]:
        """Each candidate with its image checked, the images read IMAGE_CHUNK at a time (concurrently where the blob
        store answers in parallel, and never all in memory at once)."""
        checked = []
        for start in range(0, len(candidates), IMAGE_CHUNK):
            chunk = candidates[start:start + IMAGE_CHUNK]
            images = self.blobs.get_many([c.image_sha256 for c in chunk if c.image_sha256])
            checked += [self._with_image_check(c, images.get(c.image_sha256 or ""), version) for c in chunk]
        return checked

    def _with_image_check(self, candidate: Candidate, data: bytes | None, version: ModelVersion) -> Candidate:
        """The candidate with `image_ok` when its image is there, whole (it rehashes to its sha256) and decodes to
        the model's input."""
        if not candidate.image_sha256 or data is None:
            return candidate
        try:
            if hashlib.sha256(data).hexdigest() != candidate.image_sha256:
                return candidate
            self.predictor.check_image(data, version.input_spec)
        except (ImageDecodeError, OSError):
            return candidate
        return replace(candidate, image_ok=True)

    @staticmethod
    def _entry(item: SelectedItem, split: str, review: str) -> dict[str, Any]:
        return {  # no prediction id: a dataset names each item by its opaque reference only (SPEC 7)
            "item": item.candidate.item,
            "image_sha256": item.candidate.image_sha256 or "",
            "image_type": item.candidate.image_type,
            "label": item.label,
            "label_source": item.label_source,
            "split": split,
            "review": review,
        }


def curation_report(
    dataset_id: str, candidates: list[Candidate], classes: list[str], entries: list[dict[str, Any]],
    excluded: dict[str, str], critical: dict[str, list[str]],
) -> dict[str, Any]:
    """Every candidate's fate, selected or excluded with its one reason: ids, labels and reasons, no personal data."""
    selected = {entry["item"]: entry for entry in entries}
    items = []
    for candidate in candidates:
        entry = selected.get(candidate.item)
        if entry is not None:
            items.append({"item": candidate.item, "prediction_id": candidate.prediction_id, "outcome": "selected",
                          "reason": None, "label": entry["label"], "label_source": entry["label_source"],
                          "split": entry["split"], "review": entry["review"],
                          "critical": critical.get(candidate.item, [])})
            continue
        # Without consent the comment is not read at all, not even for a label.
        found = user_label(candidate, classes) if candidate.consent else None
        items.append({"item": candidate.item, "prediction_id": candidate.prediction_id, "outcome": "excluded",
                      "reason": excluded[candidate.item], "label": found[0] if found else None,
                      "label_source": found[1] if found else None, "split": None, "review": None, "critical": []})
    return {"dataset_id": dataset_id, "items": items}


def apply_review(manifest: dict[str, Any], items: list[ReviewItem]) -> dict[str, Any]:
    """The final manifest: rejected items out, approved ones in with the reviewer's label."""
    decisions = {item.item: item for item in items}
    entries = []
    for entry in manifest["items"]:
        decided = decisions.get(entry["item"])
        if decided is None:
            entries.append(entry)
        elif decided.decision == "approved":
            entries.append({**entry, "label": decided.decided_label or entry["label"], "review": "approved"})
    return {**manifest, "items": entries}
