"""The audit trail: every decision as recorded, and the story of one version ("why is it in production?")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.ledger import Ledger
from application.models import lineage_original
from domain.errors import NotFound
from domain.model_version import ModelVersion

_VERDICTS = ("CandidateValidated", "CandidateRejected")
CHAPTERS = ("breaches", "campaign", "dataset", "training", "gates", "rollout", "service")
_CAMPAIGN_CHAPTERS = {
    "DatasetCurated": "dataset", "ReviewDecided": "dataset", "ReviewCompleted": "dataset", "DatasetAmended": "dataset",
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


class Audit:
    """Reads the audit trail from the read models: the timeline, filtered, and a version's explanation."""

    def __init__(self, *, ledger: Ledger) -> None:
        self.ledger = ledger
        self.read = ledger.read

    def _where(self, where: HistoryFilter) -> dict[str, Any]:
        concerns = []
        if where.version:
            concerns.append(f"version:{self.read.find('version', where.version)['label']}")  # NotFound if unknown
        if where.campaign:
            concerns.append(f"campaign:{self.read.find('campaign', where.campaign)['id']}")
        return {"concerns": concerns, "since": where.since, "until": where.as_of}

    def history(self, where: HistoryFilter | None = None) -> list[dict[str, Any]]:
        """The timeline, oldest first; `as_of` shows only what had been recorded by then."""
        return self.read.events(**self._where(where or HistoryFilter()))

    def history_json(self, where: HistoryFilter | None = None) -> str:
        """The same rows as one JSON array, written from the stored rows without decoding them."""
        texts = self.read.event_texts(**self._where(where or HistoryFilter()))
        return "[\n" + ",\n".join(texts) + "\n]" if texts else "[]"

    def explain(self, ref: str, as_of: datetime | None = None) -> dict[str, Any]:
        """Why this version exists and what happened to it: breaches, campaign, dataset, training, gates, rollout;
        with `as_of`, as it was known at that time."""
        version = self.ledger.version(ref)
        if as_of is not None:
            version = self.ledger.as_of(version.id, as_of)
            if version is None:
                raise NotFound(f"model version {ref!r} did not exist yet at {as_of.isoformat()}")
        vid = str(version.id)
        campaign_id = version.campaign_id
        until = {"until": as_of}
        own_rows = self.read.events(aggregate_ids=[vid], **until)
        campaign_rows = self.read.events(aggregate_ids=[campaign_id], **until) if campaign_id else []
        rollout_ids = [d["id"] for d in self.read.documents("rollout")
                       if version.label in (d["stable"], d["candidate"])]
        rollout_rows = self.read.events(aggregate_ids=rollout_ids, **until) if rollout_ids else []
        breach_rows = self._triggering_breaches(campaign_rows, as_of)
        explanation: dict[str, Any] = {
            "version": version.label, "id": vid, "state": version.state, "architecture": version.architecture,
            "architecture_options": version.architecture_options, "input_spec": version.input_spec,
            "original_dataset": self._original(version),
            "artifact_sha256": version.artifact_sha256,
            "campaign": None, "breaches": [r["details"] for r in breach_rows],
            "dataset": _dataset(campaign_rows),
            "training": {e: _last_details(campaign_rows, e) for e in ("StrategyChosen", "TrainingStarted",
                                                                       "CandidateTrained")},
            "gates": _last_details(own_rows, *_VERDICTS),
            "rollout_steps": [_step(r) for r in rollout_rows],
            "events": own_rows, "rollouts": rollout_rows,
            "story": _story(breach_rows, campaign_rows, own_rows, rollout_rows),
        }
        if as_of is not None:
            explanation["as_of"] = as_of.isoformat()
        if version.parent_id:
            explanation["parent"] = self.read.find("version", version.parent_id)["label"]
        if campaign_id:
            number = self.read.find("campaign", campaign_id)["number"]
            explanation["campaign"] = {"id": campaign_id, "number": number, "events": campaign_rows}
        return explanation

    def _original(self, version: ModelVersion) -> dict[str, Any] | None:
        """The lineage's original dataset (rehearsal, original validation set, no-regression gate) and who holds it."""
        found = lineage_original(self.ledger, version)
        if found is None:
            return None
        holder, dataset_id, sizes = found
        sources = (holder.attached_dataset or {}).get("sources") or holder.training_config.get("original_sources")
        return {"id": dataset_id, "sizes": sizes, "of": holder.label, **({"sources": sources} if sources else {})}

    def _triggering_breaches(self, campaign_rows: list[dict[str, Any]], as_of: datetime | None) -> list[dict[str, Any]]:
        """The parent's ThresholdBreached events that opened the campaign or joined it, found by their identity
        (campaigns opened before breaches carried it are matched by rule, segment and time)."""
        triggers: list[dict[str, Any]] = []
        for row in campaign_rows:
            if row["event"] == "Opened":
                triggers += row["details"].get("breaches", [])
            elif row["event"] == "BreachAttached":
                triggers.append(row["details"]["breach"])
        if not triggers:
            return []
        identities = [b["event_id"] for b in triggers if b.get("event_id")]
        found = self.read.events(event_ids=identities, until=as_of) if identities else []
        unlinked = {(b.get("rule"), b.get("segment"), b.get("at")) for b in triggers if not b.get("event_id")}
        if unlinked:
            parent_rows = self.read.events(aggregate_ids=[campaign_rows[0]["details"]["version_id"]], until=as_of)
            found += [r for r in parent_rows if r["event"] == "ThresholdBreached"
                      and (r["details"]["rule"], r["details"]["segment"], r["time"]) in unlinked]
        return sorted(found, key=lambda r: r["position"])


def _story(breaches: list[dict[str, Any]], campaign: list[dict[str, Any]], own: list[dict[str, Any]],
           rollout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event with its chapter, chapter by chapter, in the log's order within a chapter."""
    tagged = [("breaches", r) for r in breaches]
    tagged += [(_CAMPAIGN_CHAPTERS.get(r["event"], "campaign"), r) for r in campaign]
    tagged += [(_OWN_CHAPTERS.get(r["event"], "service"), r) for r in own]
    tagged += [("rollout", r) for r in rollout]
    ordered = sorted(tagged, key=lambda pair: (CHAPTERS.index(pair[0]), pair[1]["position"]))
    return [{"chapter": chapter, "time": r["time"], "aggregate": r["aggregate"], "version": r["version"],
             "event": r["event"], "actor": r["actor"], "details": r["details"]} for chapter, r in ordered]


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
