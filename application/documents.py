"""The documents that listings print (SPEC 5.1 shapes), each built from one aggregate: what the read models keep."""

from __future__ import annotations

from typing import Any

from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout


def version_summary(version: ModelVersion, parent_label: str | None) -> dict[str, Any]:
    """The `retrain models --json` shape (SPEC 5.1); `parent` is the parent's label (its id is `parent_id`)."""
    return {
        "label": version.label,
        "id": str(version.id),
        "state": version.state,
        "parent": parent_label,
        "parent_id": version.parent_id,
        "created_at": version.created_on.isoformat(),
        "artifact_sha256": version.artifact_sha256,
        "metrics": version.training_metrics,
        "architecture": version.architecture,
        "architecture_options": version.architecture_options,
        "input_spec": version.input_spec,
        "original_dataset": _original(version),
        "classes": version.classes,
        "baseline_ms": version.baseline_ms,
        "strategy": version.strategy,
        "dataset_id": version.dataset_id,
        "open_breaches": sorted(version.open_breaches),
        "validation": version.validation,
    }


def _original(version: ModelVersion) -> dict[str, Any] | None:
    """The version's own original dataset (trained on by init, brought at registration, or attached later)."""
    original = version.original_dataset()
    if original is None:
        return None
    sources = (version.attached_dataset or {}).get("sources")
    return {"id": original[0], "sizes": original[1], **({"sources": sources} if sources else {})}


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
             "threshold": b.get("threshold"), "window": b.get("window")}
            for b in campaign.breaches
        ],
        "dataset": None if dataset is None else {
            "id": campaign.training_dataset_id,
            "curated_id": dataset["dataset_id"],
            "report_id": dataset.get("report_id"),
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
    ended_at = getattr(campaign, "ended_at", None)  # snapshots taken before campaigns recorded it have none
    summary["ended_at"] = ended_at.isoformat() if ended_at else None
    summary["cooldown"] = getattr(campaign, "cooldown", None)  # opened by breaches still open after the cooldown
    return summary


def rollout_summary(rollout: Rollout) -> dict[str, Any]:
    """The `retrain rollout status --json` shape."""
    return {
        "id": str(rollout.id), "number": rollout.number, "stable": rollout.stable_label,
        "candidate": rollout.candidate_label, "percent": rollout.percent, "phase": rollout.phase,
        "state": rollout.state, "phase_started_at": rollout.phase_started_at.isoformat(),
    }
