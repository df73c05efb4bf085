"""What the web console shows (SPEC 5.3), read from the same read models and use cases as the CLI and the API.

Queries only: every decision the console offers goes through `Review.decide` and the `Rollouts` commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from application.audit import Audit
from application.documents import rollout_summary
from application.ledger import Ledger
from application.ports import Clock, ConsoleFigures
from application.review import Review
from application.rollouts import Rollouts
from domain.payloads import HealthCheck
from domain.policy import RolloutPolicy

RECENT = 8  # the rollout's latest decisions shown beside its health
MINIMUMS = {"satisfaction": "satisfaction_min_feedback", "error_rate": "error_rate_min_predictions",
            "latency": "latency_min_predictions"}


class Console:
    """The review page's items with their context, the rollout's health, and the figures behind the charts."""

    def __init__(self, *, ledger: Ledger, feedback: ConsoleFigures, reviews: Review, rollouts: Rollouts,
                 audit: Audit, clock: Clock, policy: RolloutPolicy) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.reviews = reviews
        self.rollouts = rollouts
        self.audit = audit
        self.clock = clock
        self.policy = policy

    def review(self, ref: str) -> dict[str, Any]:
        """A campaign's critical items, each with its prediction, the user's answer and the decision so far."""
        campaign = self.ledger.campaign(ref)
        items = self.reviews.decided_items(campaign)
        context = self.feedback.review_context([i.prediction_id for i in items])
        rows = []
        for item in items:
            seen = context.get(item.prediction_id)
            rows.append({
                "item": item.item, "prediction_id": item.prediction_id, "label": item.label,
                "label_source": item.label_source, "reasons": list(item.reasons), "image_sha256": item.image_sha256,
                "decision": item.decision, "decided_label": item.decided_label, "actor": item.actor,
                "predicted_label": seen.predicted_label if seen else None,
                "confidence": seen.confidence if seen else None,
                "image_type": seen.image_type if seen else None,
                "comment": seen.comment if seen and seen.consent else None,  # consent withdrawn: not shown
                "corrected_label": seen.corrected_label if seen else None,
            })
        version = self.ledger.version(campaign.version_id)
        return {"id": str(campaign.id), "number": campaign.number, "version": campaign.version_label,
                "state": campaign.state, "classes": list(version.classes), "items": rows,
                "decided": sum(1 for row in rows if row["decision"]), "total": len(rows)}

    def rollout(self, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The active rollout with the time left in its phase and the candidate's health in that phase."""
        rollout = self.ledger.active_rollout(as_of)
        if rollout is None:
            return None
        now = as_of or self.clock.now()
        health = self.rollouts.health(rollout, now)
        checks = [{"name": name, **c, "minimum": getattr(self.policy, MINIMUMS[_base(name)])}
                  for name, c in health.evidence().items()]
        ends = rollout.phase_started_at + rollout.phase_duration
        decisions = self._decisions(str(rollout.id), as_of)
        return {
            **self.rollouts.status(as_of), "now": now.isoformat(), "phase_ends_at": ends.isoformat(),
            "seconds_left": (ends - now).total_seconds(), "extended": rollout.extended,
            "plan": rollout.plan, "checks": checks, "decisions": decisions[-RECENT:][::-1],
            "trajectory": self._trajectory(rollout, now),
            "latency_factor": self.policy.latency_factor, "alpha": self.policy.alpha, "margin": self.policy.margin,
        }

    def last_rollout(self, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The latest rollout when none is active: how it ended, and each of its decisions with its evidence."""
        if as_of is None:
            known = self.ledger.read.documents("rollout")
        else:
            known = [rollout_summary(r) for r in self.ledger.rollouts(as_of)]
        if not known or known[-1]["state"] in ("active", "paused"):
            return None
        last = known[-1]
        return {**last, "decisions": self._decisions(last["id"], as_of)[::-1]}

    def _decisions(self, rollout_id: str, as_of: datetime | None) -> list[dict[str, Any]]:
        """A rollout's decisions, oldest first, each with the evidence it recorded."""
        return [{"time": row["time"], "event": row["event"], "actor": row["actor"],
                 "reason": row["details"].get("reason"), "to_percent": row["details"].get("to_percent"),
                 "evidence": _shown_evidence(row["details"].get("evidence"))}
                for row in self.ledger.read.events(aggregate_ids=[rollout_id], until=as_of)]

    def _trajectory(self, rollout: Any, now: datetime) -> list[dict[str, Any]]:
        """Each check of the phase over its time so far: at each moment, the difference (or the candidate's figure,
        for a floor) and its always-valid bounds; with the line the check fails beyond."""
        series: dict[str, dict[str, Any]] = {}
        for moment, health in self.rollouts.trajectory(rollout, now):
            for name, check in health.checks.items():
                shown = series.setdefault(name, {"name": name, "boundary": _boundary(name, check),
                                                 "since": rollout.phase_started_at.isoformat(), "points": []})
                difference = check.get("difference")
                shown["points"].append({
                    "time": moment.isoformat(), "state": check["state"], "samples": check["samples"],
                    "estimate": difference if difference is not None else check["observed"],
                    "low": check.get("low"), "high": check.get("high")})
        return list(series.values())

    def satisfaction(self, as_of: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        """Daily satisfaction per version and per image type, from each rated prediction's latest answer."""
        labels = {v["id"]: v["label"] for v in self.ledger.read.versions()}
        per_version: dict[tuple[str, str], list[int]] = {}
        per_type: dict[tuple[str, str], list[int]] = {}
        for row in self.feedback.daily_satisfaction(until=as_of):
            day = row.day.isoformat()
            for table, key in ((per_version, labels.get(row.version_id, row.version_id[:8])),
                               (per_type, row.image_type)):
                tally = table.setdefault((key, day), [0, 0])
                tally[0] += row.rated
                tally[1] += row.satisfied
        return {"versions": _series(per_version), "image_types": _series(per_type)}

    def accuracy(self, as_of: datetime | None = None) -> list[dict[str, Any]]:
        """Each version's accuracy on the validation and test sets: measured at training, and side by side with its
        parent by the validation gates."""
        rows = []
        for version in self.ledger.read.versions(as_of):
            figures = (version.get("validation") or {}).get("figures") or {}
            measured = figures.get("candidate") or {}
            metrics = version.get("metrics") or {}
            rows.append({
                "version": version["label"], "state": version["state"],
                "validation": measured.get("validation_accuracy", metrics.get("validation_accuracy")),
                "test": measured.get("test_accuracy", metrics.get("test_accuracy")),
                "parent": version.get("parent"),
                "parent_validation": (figures.get("parent") or {}).get("validation_accuracy"),
                "parent_test": (figures.get("parent") or {}).get("test_accuracy"),
            })
        return rows


def _base(check: str) -> str:
    """The kind of a phase check: `satisfaction/phone` and `satisfaction_floor` need what `satisfaction` needs."""
    return check.split("/")[0].removesuffix("_floor")


def _series(table: dict[tuple[str, str], list[int]]) -> list[dict[str, Any]]:
    names = sorted({name for name, _ in table})
    return [{"name": name, "points": [{"day": day, "rated": n, "satisfied": s, "rate": s / n}
                                      for (key, day), (n, s) in sorted(table.items()) if key == name]}
            for name in names]


def _boundary(name: str, check: HealthCheck) -> float:
    """Where the check's interval must lie beyond for it to fail: -margin below (satisfaction), +margin above (error
    rate), log(latency factor) above (latency), the floor itself (floors)."""
    margin = check.get("margin", 0.0)
    if name.endswith("_floor"):
        return check["threshold"]
    if name == "latency":
        return margin  # log(latency_factor)
    return (-margin or 0.0) if name.startswith("satisfaction") else margin


def _shown_evidence(evidence: Any) -> list[dict[str, Any]]:
    """A decision's recorded evidence, one row per check that had its samples (failed checks first)."""
    if not isinstance(evidence, dict):
        return []
    rows = [{"name": name, **e} for name, e in evidence.items()
            if isinstance(e, dict) and e.get("state") in ("ok", "failed")]
    return sorted(rows, key=lambda row: row["state"] != "failed")
