"""The audit trail: every decision as recorded, and the story of one version ("why is it in production?")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.ledger import Ledger

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
_LABEL_FIELDS = ("label", "version_label", "candidate_label", "stable_label", "by_version", "replacing")
_VERDICTS = ("CandidateValidated", "CandidateRejected")
CHAPTERS = ("breaches", "campaign", "dataset", "training", "gates", "rollout", "service")
_CAMPAIGN_CHAPTERS = {
    "DatasetCurated": "dataset", "ReviewDecided": "dataset", "ReviewCompleted": "dataset",
    "StrategyChosen": "training", "TrainingStarted": "training", "CandidateTrained": "training",
    "TrainingFailed": "training", "Completed": "gates", "Abandoned": "gates",
}
_OWN_CHAPTERS = {
    "Registered": "training", "CandidateValidated": "gates", "CandidateRejected": "gates",
    "CanaryStarted": "rollout", "Promoted": "rollout", "RolledBack": "rollout", "Superseded": "rollout",
}


@dataclass(frozen=True)
class HistoryFilter:
    """`retrain history` options: events about a version, of a campaign, since a time, as known at a time."""

    version: str | None = None
    campaign: str | None = None
    since: datetime | None = None
    as_of: datetime | None = None


class _Relations:
    """What the log has said so far about who is concerned by each aggregate's events."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}  # aggregate id -> the version label its rows show
        self.parties: dict[str, set[str]] = {}  # rollout id -> stable and candidate labels
        self.campaign_of: dict[str, str] = {}  # rollout or candidate version id -> campaign id

    def learn(self, aggregate: str, aggregate_id: str, details: dict[str, Any]) -> None:
        if aggregate == "ModelVersion" and "label" in details:
            self.labels[aggregate_id] = details["label"]
        elif aggregate == "RetrainCampaign" and "version_label" in details:
            self.labels[aggregate_id] = details["version_label"]
        elif aggregate == "Rollout" and "candidate_label" in details:
            self.labels[aggregate_id] = details["candidate_label"]
            self.parties[aggregate_id] = {details["candidate_label"], details["stable_label"]}
        if details.get("campaign_id") and aggregate in ("Rollout", "ModelVersion"):
            self.campaign_of[aggregate_id] = details["campaign_id"]

    def concerns_version(self, row: dict[str, Any], label: str) -> bool:
        named = {row["details"].get(name) for name in _LABEL_FIELDS}
        return label == row["version"] or label in named or label in self.parties.get(row["aggregate_id"], ())

    def concerns_campaign(self, row: dict[str, Any], campaign_id: str) -> bool:
        """The campaign's own events, its candidate's registration and verdict, and its candidate's rollout."""
        details, aggregate_id = row["details"], row["aggregate_id"]
        if campaign_id in (aggregate_id, details.get("campaign_id")):
            return True
        if self.campaign_of.get(aggregate_id) != campaign_id:
            return False
        if row["aggregate"] == "Rollout" or row["event"] in _VERDICTS:
            return True
        return self.campaign_of.get(str(details.get("rollout_id"))) == campaign_id


class Audit:
    """Reads the event log: the timeline, filtered, and a version's explanation."""

    def __init__(self, *, ledger: Ledger) -> None:
        self.ledger = ledger

    def timeline(self, relations: _Relations | None = None) -> Iterator[dict[str, Any]]:
        """Every event, oldest first, in the `retrain history --json` shape (plus `_timestamp`)."""
        relations = relations or _Relations()
        for domain_event in self.ledger.all_events():
            aggregate = type(domain_event).__qualname__.split(".")[0]
            aggregate_id = str(domain_event.originator_id)
            details = _jsonable({k: v for k, v in vars(domain_event).items() if k not in _ENVELOPE})
            relations.learn(aggregate, aggregate_id, details)
            yield {
                "time": domain_event.timestamp.isoformat(),
                "aggregate": aggregate,
                "aggregate_id": aggregate_id,
                "version": relations.labels.get(aggregate_id),
                "event": type(domain_event).__name__,
                "actor": getattr(domain_event, "actor", None),
                "details": details,
                "_timestamp": domain_event.timestamp,
            }

    def history(self, where: HistoryFilter | None = None) -> list[dict[str, Any]]:
        """The timeline, oldest first; `as_of` shows only what had been recorded by then."""
        where = where or HistoryFilter()
        campaign_id = str(self.ledger.campaign(where.campaign).id) if where.campaign else None
        label = self.ledger.version(where.version).label if where.version else None  # NotFound if unknown
        relations = _Relations()
        rows = []
        for row in self.timeline(relations):
            moment = row.pop("_timestamp")
            if where.as_of and moment > where.as_of:
                continue
            if where.since and moment < where.since:
                continue
            if label and not relations.concerns_version(row, label):
                continue
            if campaign_id and not relations.concerns_campaign(row, campaign_id):
                continue
            rows.append(row)
        return rows

    def explain(self, ref: str) -> dict[str, Any]:
        """Why this version exists and what happened to it: breaches, campaign, dataset, training, gates, rollout."""
        version = self.ledger.version(ref)
        vid = str(version.id)
        relations = _Relations()
        rows = []
        for position, row in enumerate(self.timeline(relations)):
            row.pop("_timestamp")
            rows.append({**row, "_position": position})
        campaign_id = version.campaign_id
        campaign_rows = [r for r in rows if campaign_id and r["aggregate_id"] == campaign_id]
        rollout_ids = {rid for rid, parties in relations.parties.items() if version.label in parties}
        rollout_rows = [r for r in rows if r["aggregate_id"] in rollout_ids]
        own_rows = [r for r in rows if r["aggregate_id"] == vid]
        breach_rows = _triggering_breaches(rows, campaign_rows)
        story = _story(breach_rows, campaign_rows, own_rows, rollout_rows)
        for row in rows:
            del row["_position"]
        explanation: dict[str, Any] = {
            "version": version.label, "id": vid, "state": version.state, "architecture": version.architecture,
            "artifact_sha256": version.artifact_sha256,
            "campaign": None, "breaches": [r["details"] for r in breach_rows],
            "dataset": _dataset(campaign_rows),
            "training": {e: _last_details(campaign_rows, e) for e in ("StrategyChosen", "TrainingStarted",
                                                                       "CandidateTrained")},
            "gates": _last_details(own_rows, *_VERDICTS),
            "rollout_steps": [_step(r) for r in rollout_rows],
            "events": own_rows, "rollouts": rollout_rows, "story": story,
        }
        if version.parent_id:
            explanation["parent"] = self.ledger.version(version.parent_id).label
        if campaign_id:
            number = self.ledger.campaign(campaign_id).number
            explanation["campaign"] = {"id": campaign_id, "number": number, "events": campaign_rows}
        return explanation


def _triggering_breaches(rows: list[dict[str, Any]], campaign_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parent's ThresholdBreached events that opened the campaign or joined it."""
    triggers: list[dict[str, Any]] = []
    for row in campaign_rows:
        if row["event"] == "Opened":
            triggers += row["details"].get("breaches", [])
        elif row["event"] == "BreachAttached":
            triggers.append(row["details"]["breach"])
    wanted = {(b.get("rule"), b.get("segment"), b.get("at")) for b in triggers}
    opened = campaign_rows[0] if campaign_rows else None
    return [
        r for r in rows
        if opened and r["event"] == "ThresholdBreached" and r["aggregate_id"] == opened["details"].get("version_id")
        and (r["details"]["rule"], r["details"]["segment"], r["time"]) in wanted
    ]


def _story(breaches: list[dict[str, Any]], campaign: list[dict[str, Any]], own: list[dict[str, Any]],
           rollout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event with its chapter, chapter by chapter, in the log's order within a chapter."""
    tagged = [("breaches", r) for r in breaches]
    tagged += [(_CAMPAIGN_CHAPTERS.get(r["event"], "campaign"), r) for r in campaign]
    tagged += [(_OWN_CHAPTERS.get(r["event"], "service"), r) for r in own]
    tagged += [("rollout", r) for r in rollout]
    ordered = sorted(tagged, key=lambda pair: (CHAPTERS.index(pair[0]), pair[1]["_position"]))
    return [{"chapter": chapter, "time": r["time"], "aggregate": r["aggregate"], "version": r["version"], "event": r["event"],
             "actor": r["actor"], "details": r["details"]} for chapter, r in ordered]


def _dataset(campaign_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The curated dataset's counts, its review, and the dataset training used (the reviewed one if it changed)."""
    curated = _last_details(campaign_rows, "DatasetCurated")
    if curated is None:
        return None
    review = _last_details(campaign_rows, "ReviewCompleted")
    trained_on = (review or {}).get("dataset_id") or curated["dataset_id"]
    return {**curated, "review": review, "trained_on": trained_on}


def _last_details(rows: list[dict[str, Any]], *events: str) -> dict[str, Any] | None:
    found = [r for r in rows if r["event"] in events]
    return {"event": found[-1]["event"], **found[-1]["details"]} if found else None


def _step(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("from_percent", "to_percent", "phase", "reason", "plan")
    return {"time": row["time"], "event": row["event"], "actor": row["actor"],
            **{k: v for k, v in row["details"].items() if k in keep}}


def _jsonable(value: Any) -> Any:
    """JSON types only: times as RFC 3339 text, ids as text (checked by exact type: this runs for every event)."""
    kind = type(value)
    if kind is dict:
        return {str(k): _jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(v) for v in value]
    if kind is datetime:
        return value.isoformat()
    if kind in (str, int, float, bool) or value is None:
        return value
    return str(value)