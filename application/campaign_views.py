"""Read views of campaigns: the `retrain campaigns --json` shape (SPEC 5.1), and each item's curation outcome."""

from __future__ import annotations

import json
from typing import Any

from application.ports import BlobStore, FeedbackStore
from domain.retrain_campaign import RetrainCampaign

ITEM_FIELDS = ("item", "prediction_id", "outcome", "reason", "label", "label_source", "split", "review")


def campaign_summary(campaign: RetrainCampaign) -> dict[str, Any]:
    dataset = campaign.dataset
    summary: dict[str, Any] = {
        "id": str(campaign.id),
        "number": campaign.number,
        "version": campaign.version_label,
        "state": campaign.state,
        "opened_at": campaign.opened_at.isoformat(),
        "reason": campaign.reason,
        "breaches": [
            {"rule": b.get("rule"), "segment": b.get("segment"), "observed": b.get("observed"),
             "threshold": b.get("threshold")}
            for b in campaign.breaches
        ],
        "dataset": None if dataset is None else {
            "id": campaign.training_dataset_id,
            "curated_id": dataset["dataset_id"],
            "included": dataset["included"],
            "train_items": dataset["train_items"],
            "validation_items": dataset["validation_items"],
            "excluded": dataset["excluded"],
            "label_sources": dataset["label_sources"],
            "awaiting_review": len(campaign.pending_review),
        },
        "strategy": campaign.strategy,
        "strategy_reasons": campaign.strategy_reasons,
        "candidate": campaign.candidate["label"] if campaign.candidate else None,
        "attempts": campaign.attempts,
        "last_error": campaign.last_error,
    }
    if campaign.state == "completed":
        summary["outcome"] = campaign.outcome
    return summary


def curation_items(campaign: RetrainCampaign, blobs: BlobStore, feedback: FeedbackStore) -> list[dict[str, Any]] | None:
    """Why each feedback item was used or left out: its curation outcome, then the reviewer's decision if any.

    None when the campaign has no curation report (not curated yet, or curated before reports existed).
    """
    report_id = (campaign.dataset or {}).get("report_id")
    if not report_id:
        return None
    decisions = {item.item: item for item in feedback.review_items(str(campaign.id))}
    rows = []
    for entry in json.loads(blobs.get(report_id))["items"]:
        row = {key: entry[key] for key in ITEM_FIELDS}
        decided = decisions.get(entry["item"])
        if decided is not None and decided.decision is not None:
            row["review"] = decided.decision
            row["label"] = decided.decided_label or row["label"]
        row["critical"] = list(entry["critical"])
        rows.append(row)
    return rows
