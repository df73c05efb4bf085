"""The audit trail: every decision as recorded, and the story of one version ("why is it in production?")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.ledger import Ledger
from domain.errors import NotFound

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}


@dataclass(frozen=True)
class HistoryFilter:
    version: str | None = None
    campaign: str | None = None
    since: datetime | None = None
    as_of: datetime | None = None


class Audit:
    """Reads the event log: the timeline, filtered, and a version's explanation."""

    def __init__(self, *, ledger: Ledger) -> None:
        self.ledger = ledger

    def timeline(self) -> Iterator[dict[str, Any]]:
        """Every event, oldest first, in the `retrain history --json` shape."""
        labels: dict[str, str] = {}
        for domain_event in self.ledger.all_events():
            aggregate = type(domain_event).__qualname__.split(".")[0]
            aggregate_id = str(domain_event.originator_id)
            details = {k: v for k, v in vars(domain_event).items() if k not in _ENVELOPE}
            if aggregate == "ModelVersion" and "label" in details:
                labels[aggregate_id] = details["label"]
            elif aggregate == "RetrainCampaign" and "version_label" in details:
                labels[aggregate_id] = details["version_label"]
            elif aggregate == "Rollout" and "candidate_label" in details:
                labels[aggregate_id] = details["candidate_label"]
            yield {
                "time": domain_event.timestamp.isoformat(),
                "aggregate": aggregate,
                "aggregate_id": aggregate_id,
                "version": labels.get(aggregate_id),
                "event": type(domain_event).__name__,
                "actor": getattr(domain_event, "actor", None),
                "details": _jsonable(details),
                "_timestamp": domain_event.timestamp,
            }

    def history(self, where: HistoryFilter | None = None) -> list[dict[str, Any]]:
        where = where or HistoryFilter()
        campaign_id = str(self.ledger.campaign(where.campaign).id) if where.campaign else None
        if where.version:
            self.ledger.version(where.version)  # NotFound for an unknown version
        rows = []
        for row in self.timeline():
            moment = row.pop("_timestamp")
            if where.as_of and moment > where.as_of:
                continue
            if where.since and moment < where.since:
                continue
            if where.version and where.version not in (row["version"], row["details"].get("stable_label")):
                continue
            if campaign_id and campaign_id not in (row["aggregate_id"], row["details"].get("campaign_id")):
                continue
            rows.append(row)
        return rows

    def explain(self, ref: str) -> dict[str, Any]:
        """Why this version exists and what happened to it: breaches, campaign, dataset, training, gates, rollout."""
        version = self.ledger.version(ref)
        story: dict[str, Any] = {"version": version.label, "id": str(version.id), "state": version.state,
                                 "architecture": version.architecture, "artifact_sha256": version.artifact_sha256}
        if version.parent_id:
            story["parent"] = self.ledger.version(version.parent_id).label
        if version.campaign_id:
            campaign_events = self.history(HistoryFilter(campaign=version.campaign_id))
            story["campaign"] = {
                "id": version.campaign_id,
                "number": self.ledger.campaign(version.campaign_id).number,
                "events": [e for e in campaign_events if e["aggregate"] == "RetrainCampaign"],
            }
        else:
            story["campaign"] = None
        story["events"] = [e for e in self.history() if e["aggregate_id"] == str(version.id)]
        story["rollouts"] = [
            e for e in self.history()
            if e["aggregate"] == "Rollout" and str(version.id) in (_rollout_parties(self.ledger, e["aggregate_id"]))
        ]
        return story


def _rollout_parties(ledger: Ledger, rollout_id: str) -> tuple[str, str]:
    try:
        rollout = ledger.rollout(rollout_id)
    except NotFound:
        return ("", "")
    return (rollout.candidate_id, rollout.stable_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
