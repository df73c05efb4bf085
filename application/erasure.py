"""The right to be forgotten (SPEC 7): `retrain forget --user REF` and `DELETE /v1/users/{ref}`.

Order of work, so that a crash at any point is finished by running the command again:
1. the datasets not yet used for training are re-written without the user's items, and the curation reports
   without any of their items (new blobs);
2. the campaigns record the new ids (`DatasetAmended`) and an `ErasureRecorded` holds the counts, in one save;
3. the user's predictions, feedback and review items are deleted from the feedback store, in one transaction;
4. the user's images no remaining record refers to, and the datasets and reports replaced in step 1, are deleted
   from the blob store.
A second run finds nothing of the user, changes nothing and records nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import structlog

from application.curation import manifest_bytes, store_manifest
from application.ledger import Ledger
from application.ports import BlobStore, Clock, UserData
from domain.erasure import Erasure
from domain.errors import InvalidInput
from domain.retrain_campaign import RetrainCampaign
from domain.rules.curation import item_reference

log = structlog.get_logger()
REASON = "erasure"


@dataclass
class _Plan:
    """What one erasure changes, worked out before anything is written."""

    amended: list[tuple[RetrainCampaign, dict[str, Any]]] = field(default_factory=list)
    replaced_blobs: set[str] = field(default_factory=set)
    consumed_datasets: list[str] = field(default_factory=list)


class Forget:
    """Deletes one user's personal data and reports what had already been consumed by training."""

    def __init__(self, *, ledger: Ledger, feedback: UserData, blobs: BlobStore, clock: Clock) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.clock = clock

    def forget(self, user_ref: str, *, actor: str) -> dict[str, Any]:
        """The impact report (SPEC 5.1 `forget --json`)."""
        if not user_ref or not user_ref.strip() or len(user_ref) > 128:
            raise InvalidInput("--user must be the user's reference as sent with their predictions (1 to 128 "
                               "characters)")
        owned = self.feedback.user_predictions(user_ref)
        prediction_ids = {pid for pid, _ in owned}
        images = sorted({sha for _, sha in owned if sha})

        def command() -> tuple[_Plan, list[str]]:
            plan = self._plan(prediction_ids)
            consumed = [v.label for v in self.ledger.versions()
                        if v.dataset_id and v.dataset_id in plan.consumed_datasets]
            if owned:
                now = self.clock.now()
                erasure = Erasure(predictions=len(owned), images=len(images), datasets_amended=len(plan.amended),
                                  datasets_consumed=len(plan.consumed_datasets), versions_consumed=len(consumed),
                                  actor=actor, timestamp=now)
                for campaign, change in plan.amended:
                    campaign.amend_dataset(**change, reason=REASON, actor=actor, timestamp=now)
                self.ledger.save(erasure, *(campaign for campaign, _ in plan.amended))
            return plan, consumed

        plan, consumed_versions = self.ledger.retrying(command)
        deleted = self.feedback.erase(sorted(prediction_ids))
        gone = sorted(set(images) - self.feedback.images_in_use(images))
        for sha in [*gone, *sorted(plan.replaced_blobs)]:
            self.blobs.delete(sha)
        report = {
            "deleted": {"predictions": deleted["predictions"], "feedback": deleted["feedback"], "images": len(gone),
                        "review_items": deleted["review_items"]},
            "datasets_amended": [
                {"campaign": campaign.number, "dataset_id": campaign.training_dataset_id, "removed": change["removed"]}
                for campaign, change in plan.amended if change["dataset_id"] or change["final_id"]],
            "consumed_by": {"datasets": plan.consumed_datasets, "versions": consumed_versions},
        }
        log.info("user_forgotten", predictions=deleted["predictions"], datasets_amended=len(report["datasets_amended"]),
                 datasets_consumed=len(plan.consumed_datasets))
        return report

    def _plan(self, prediction_ids: set[str]) -> _Plan:
        """Each campaign's datasets and report without the user's items; the datasets training already used."""
        plan = _Plan()
        if not prediction_ids:
            return plan
        for campaign in self.ledger.campaigns():
            dataset = campaign.dataset
            if dataset is None:
                continue
            change: dict[str, Any] = {"dataset_id": None, "final_id": None, "report_id": None, "removed": 0,
                                      "included": dataset["included"], "train_items": dataset["train_items"],
                                      "validation_items": dataset["validation_items"],
                                      "awaiting_review": list(campaign.pending_review)}
            report_id = dataset.get("report_id")
            if report_id and self.blobs.has(report_id):
                report = json.loads(self.blobs.get(report_id))
                kept = [item for item in report["items"] if item["prediction_id"] not in prediction_ids]
                if len(kept) < len(report["items"]):
                    change["report_id"] = self.blobs.put(manifest_bytes({**report, "items": kept}))
                    plan.replaced_blobs.add(report_id)
            curated = self._without(dataset["dataset_id"], prediction_ids)
            final = self._without(dataset.get("final_id"), prediction_ids)
            if curated is not None or final is not None:
                if campaign.dataset_consumed:
                    plan.consumed_datasets += [i for i in (dataset.get("final_id"), dataset["dataset_id"])
                                               if i and i not in plan.consumed_datasets]
                else:
                    self._rewrite(plan, change, dataset, curated, final, campaign)
            if change["report_id"] or change["dataset_id"] or change["final_id"]:
                plan.amended.append((campaign, change))
        return plan

    def _rewrite(self, plan: _Plan, change: dict[str, Any], dataset: dict[str, Any], curated: dict[str, Any] | None,
                 final: dict[str, Any] | None, campaign: RetrainCampaign) -> None:
        if curated is not None:
            items = curated["items"]
            removed = dataset["included"] - len(items)
            change.update(dataset_id=store_manifest(self.blobs, curated), removed=removed, included=len(items),
                          train_items=sum(1 for e in items if e["split"] == "train"),
                          validation_items=sum(1 for e in items if e["split"] != "train"))
            kept_items = {e["item"] for e in items}
            change["awaiting_review"] = [i for i in campaign.pending_review if i in kept_items]
            plan.replaced_blobs.add(dataset["dataset_id"])
        if final is not None:
            change["final_id"] = store_manifest(self.blobs, final)
            plan.replaced_blobs.add(dataset["final_id"])

    def _without(self, dataset_id: str | None, prediction_ids: set[str]) -> dict[str, Any] | None:
        """The manifest without the user's items, or None when it holds none of them (or is gone). Items are matched
        by their reference (and by prediction id in manifests written before they held references only)."""
        if not dataset_id or not self.blobs.has(dataset_id):
            return None
        manifest = json.loads(self.blobs.get(dataset_id))
        references = {item_reference(pid) for pid in prediction_ids}
        kept = [entry for entry in manifest["items"]
                if entry["item"] not in references and entry.get("prediction_id") not in prediction_ids]
        unlabelled = manifest.get("unlabelled", [])
        kept_unlabelled = [entry for entry in unlabelled if entry["item"] not in references]
        if len(kept) == len(manifest["items"]) and len(kept_unlabelled) == len(unlabelled):
            return None
        return {**manifest, "items": kept, **({"unlabelled": kept_unlabelled} if "unlabelled" in manifest else {})}
