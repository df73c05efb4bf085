"""Rule 4.4: human review of a campaign's critical items, and the review's completion (the final dataset)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from application.curation import apply_review, store_manifest
from application.ledger import Ledger
from application.ports import BlobStore, Clock, ReviewQueue
from application.records import ReviewItem
from domain.errors import InvalidInput
from domain.policy import CurationPolicy
from domain.retrain_campaign import RetrainCampaign
from domain.rules.curation import enough_training_items, item_reference

SYSTEM = "system:campaign"  # who runs a campaign's own steps (a review with nothing to decide completes by itself)


class Review:
    """The review queue of a campaign: its items with their decisions, a reviewer's decision, and completion."""

    def __init__(self, *, ledger: Ledger, feedback: ReviewQueue, blobs: BlobStore, clock: Clock,
                 policy: CurationPolicy) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.clock = clock
        self.policy = policy  # its minimum of training items, checked again once rejections are applied

    def decided_items(self, campaign: RetrainCampaign) -> list[ReviewItem]:
        """The campaign's review items with their decisions: the items from the feedback store, the decisions from
        the campaign's events (their one source of truth)."""
        return [
            replace(i, decision=d["decision"], decided_label=d["label"], actor=d["actor"])
            if (d := campaign.review_decisions.get(i.item))
            else replace(i, decision=None, decided_label=None, actor=None)
            for i in self.feedback.review_items(str(campaign.id))
        ]

    def items(self, ref: str) -> list[dict[str, Any]]:
        """The review queue (`campaign review`, the API): each critical item and its decision so far."""
        return [
            {"item": i.item, "prediction_id": i.prediction_id, "label": i.decided_label or i.label,
             "label_source": i.label_source, "reasons": list(i.reasons), "decision": i.decision}
            for i in self.decided_items(self.ledger.campaign(ref))
        ]

    def decide(self, ref: str, item: str, *, approve: bool, label: str | None, actor: str) -> RetrainCampaign:
        """A reviewer's decision on one critical item (named by its item reference or its prediction id); the last
        one completes the review. The event is saved first; the feedback store's copy of the decision follows."""
        if label is not None and not approve:
            raise InvalidInput("a label goes with --approve, not --reject")
        decision = "approved" if approve else "rejected"

        def command() -> tuple[RetrainCampaign, str]:
            campaign = self.ledger.campaign(ref)
            known = {*campaign.pending_review, *campaign.review_decisions}
            named = item_reference(item) if item not in known and item_reference(item) in known else item
            if label is not None and label not in self.ledger.version(campaign.version_id).classes:
                raise InvalidInput(f"label {label!r} is not one of the version's classes")
            campaign.decide_review(item=named, decision=decision, label=label, actor=actor, timestamp=self.clock.now())
            campaign = self.complete_if_done(campaign, actor, save=False)
            self.ledger.save(campaign)
            return campaign, named

        campaign, named = self.ledger.retrying(command)
        self.feedback.decide_review_item(str(campaign.id), named, decision=decision, label=label, actor=actor)
        return campaign

    def complete_if_done(self, campaign: RetrainCampaign, actor: str, save: bool = True) -> RetrainCampaign:
        """ReviewCompleted once nothing is pending; rejections that leave too few training items end the campaign."""
        if campaign.state not in ("open", "awaiting_review") or campaign.dataset is None:
            return campaign
        if campaign.pending_review or campaign.review_completed:
            return campaign
        now = self.clock.now()
        items = self.decided_items(campaign)
        final_id, train_items = None, int(campaign.dataset["train_items"])
        if items:
            final = apply_review(json.loads(self.blobs.get(campaign.dataset["dataset_id"])), items)
            final_id = store_manifest(self.blobs, final)
            train_items = sum(1 for entry in final["items"] if entry["split"] == "train")
        campaign.complete_review(auto=not items, dataset_id=final_id, actor=actor if items else SYSTEM, timestamp=now)
        minimum = self.policy.min_training_items
        if not enough_training_items(train_items, minimum=minimum):
            campaign.complete(outcome="insufficient_data", details={"train_items": train_items, "minimum": minimum},
                              actor=actor, timestamp=now)
        if save:
            self.ledger.save(campaign)
        return campaign
