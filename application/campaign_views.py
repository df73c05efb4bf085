"""Read views of campaigns: the `retrain campaigns --json` shape (SPEC 5.1)."""

from __future__ import annotations

from typing import Any

from domain.retrain_campaign import RetrainCampaign


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
