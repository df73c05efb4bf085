"""What one pass of the time-driven steps decided (`retrain tick`): one line per decision, read from the events the
pass recorded, so that what it says is exactly what the audit trail holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from application.ledger import Ledger
from application.validation import describe_failed
from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout


@dataclass(frozen=True)
class Decision:
    """One decision: when, what kind (`campaign_opened`, `candidate_rejected`, ...), about what, in one sentence."""

    time: str
    kind: str
    subject: str
    summary: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def decisions_after(ledger: Ledger, position: int) -> list[Decision]:
    """The decisions among the events recorded after `position` (claims and other bookkeeping are left out)."""
    aggregates: dict[str, Any] = {}

    def aggregate(aggregate_id: Any) -> Any:
        key = str(aggregate_id)
        if key not in aggregates:
            aggregates[key] = ledger.repository.get(UUID(key))  # events refer to other aggregates by text
        return aggregates[key]

    found = []
    for _, event in ledger.events_after(position):
        owner = aggregate(event.originator_id)
        describe = _DESCRIBED.get((type(owner).__name__, type(event).__name__))
        if describe is None:
            continue
        subject = _subject(owner)
        for kind, summary in describe(event, owner, lambda ref: aggregate(ref).label):
            found.append(Decision(event.timestamp.isoformat(), kind, subject, summary))
    return found


def _subject(owner: Any) -> str:
    if isinstance(owner, RetrainCampaign):
        return f"campaign {owner.number}"
    if isinstance(owner, Rollout):
        return f"rollout {owner.number}"
    return str(owner.label) if isinstance(owner, ModelVersion) else type(owner).__name__


Said = list[tuple[str, str]]
Label = Callable[[str], str]


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _segment(event: Any) -> str:
    return f" ({event.segment})" if event.segment else ""


def _breach(e: Any, _: Any, __: Label) -> Said:
    return [("breach_recorded", f"{e.rule}{_segment(e)} breached: observed {_figure(e.observed)} "
                                f"vs threshold {_figure(e.threshold)}")]


def _recovery(e: Any, _: Any, __: Label) -> Said:
    return [("breach_recovered", f"{e.rule}{_segment(e)} recovered: observed {_figure(e.observed)}")]


def _baseline(e: Any, _: Any, __: Label) -> Said:
    return [("baseline_measured", f"latency baseline {e.baseline_ms:.3g} ms over {e.sample_size} predictions")]


def _validated(e: Any, _: Any, label: Label) -> Said:
    gates = ", ".join(g["name"] for g in e.gates)
    return [("candidate_validated", f"validated against {label(e.parent_id)}: every gate passed ({gates})")]


def _rejected(e: Any, _: Any, label: Label) -> Said:
    failed = describe_failed(e.gates) or ", ".join(e.failed_gates)
    return [("candidate_rejected", f"rejected against {label(e.parent_id)}: {failed}")]


def _opened(e: Any, campaign: RetrainCampaign, _: Label) -> Said:
    rules = ", ".join(f"{b.get('rule')}{' (' + b['segment'] + ')' if b.get('segment') else ''}" for b in e.breaches)
    if e.cooldown:
        why = f"after the cooldown: {e.reason}"
    else:
        why = f"by the breach of {rules}" if rules else f"by hand: {e.reason}"
    return [("campaign_opened", f"opened on {e.version_label} {why}")]


def _curated(e: Any, campaign: RetrainCampaign, _: Label) -> Said:
    excluded = ", ".join(f"{reason} {count}" for reason, count in e.excluded.items() if count) or "none"
    said = [("items_curated", f"curated {e.included} items ({e.train_items} train, {e.validation_items} "
                              f"validation); excluded: {excluded}")]
    if e.awaiting_review:
        said.append(("awaiting_review", f"{len(e.awaiting_review)} items await a reviewer: "
                                        f"`retrain review list {campaign.number}`"))
    return said


def _reviewed(e: Any, _: Any, __: Label) -> Said:
    return [("review_completed", "no item needed a review" if e.auto else
             f"review completed: {e.approved} approved, {e.rejected} rejected")]


def _trained(e: Any, _: Any, __: Label) -> Said:
    m = e.metrics
    accuracy = f", test accuracy {m['test_accuracy']:.1%}" if isinstance(m.get("test_accuracy"), float) else ""
    epochs = f", best epoch {m['best_epoch']} of {m['epochs_run']}" if "best_epoch" in m and "epochs_run" in m else ""
    took = f" in {m['seconds']:.0f} s" if isinstance(m.get("seconds"), (int, float)) else ""
    return [("training_finished", f"{e.candidate_label} trained{took}{epochs}{accuracy}")]


def _completed(e: Any, _: Any, __: Label) -> Said:
    shown = {k: v for k, v in e.details.items() if k in ("train_items", "minimum")}
    detail = f" ({', '.join(f'{k} {v}' for k, v in shown.items())})" if shown else ""
    return [("campaign_completed", f"completed with outcome {e.outcome}{detail}")]


def _shifted(e: Any, rollout: Rollout, _: Label) -> Said:
    return [("traffic_shifted", f"{rollout.candidate_label} {e.from_percent:g}% -> {e.to_percent:g}% ({e.reason})")]


def _rolled_back(e: Any, rollout: Rollout, _: Label) -> Said:
    return [("rolled_back", f"{rollout.candidate_label} rolled back, {rollout.stable_label} serves: {e.reason}")]


def _version_rolled_back(e: Any, _: Any, __: Label) -> Said:
    return [] if e.rollout_id else [("rolled_back", f"rolled back: {e.reason}")]  # a rollout's says it already


def _said(kind: str, text: Callable[[Any, Any], str]) -> Callable[[Any, Any, Label], Said]:
    return lambda e, owner, _: [(kind, text(e, owner))]


_DESCRIBED: dict[tuple[str, str], Callable[[Any, Any, Label], Said]] = {
    ("ModelVersion", "ThresholdBreached"): _breach,
    ("ModelVersion", "ThresholdRecovered"): _recovery,
    ("ModelVersion", "BaselineMeasured"): _baseline,
    ("ModelVersion", "CandidateValidated"): _validated,
    ("ModelVersion", "CandidateRejected"): _rejected,
    ("ModelVersion", "Promoted"): _said("promoted", lambda e, _: f"promoted to production ({e.reason})"),
    ("ModelVersion", "Superseded"): _said("superseded",
                                          lambda e, _: f"superseded by {e.by_version}, kept for rollback"),
    ("ModelVersion", "RolledBack"): _version_rolled_back,
    ("RetrainCampaign", "Opened"): _opened,
    ("RetrainCampaign", "BreachAttached"): _said("breach_attached", lambda e, _: f"the {e.breach.get('rule')} breach "
                                                                                 "joined this open campaign"),
    ("RetrainCampaign", "DatasetCurated"): _curated,
    ("RetrainCampaign", "ReviewCompleted"): _reviewed,
    ("RetrainCampaign", "StrategyChosen"): _said("strategy_chosen",
                                                 lambda e, _: f"strategy {e.strategy}: {'; '.join(e.reasons)}"),
    ("RetrainCampaign", "TrainingStarted"): _said("training_started",
                                                  lambda e, _: f"training attempt {e.attempt} started ({e.strategy})"),
    ("RetrainCampaign", "CandidateTrained"): _trained,
    ("RetrainCampaign", "TrainingFailed"): _said("training_failed", lambda e, _: f"training failed: {e.error}"),
    ("RetrainCampaign", "Completed"): _completed,
    ("RetrainCampaign", "Abandoned"): _said("campaign_abandoned", lambda e, _: f"abandoned: {e.reason}"),
    ("Rollout", "Started"): _said("rollout_started", lambda e, _: f"{e.candidate_label} rolled out against "
                                                                  f"{e.stable_label}"),
    ("Rollout", "TrafficShifted"): _shifted,
    ("Rollout", "PhaseExtended"): _said("phase_extended", lambda e, _: f"phase {e.phase} extended: its evidence is "
                                                                       "not complete yet"),
    ("Rollout", "Paused"): _said("rollout_paused", lambda e, _: f"paused: {e.reason}"),
    ("Rollout", "Resumed"): _said("rollout_resumed", lambda e, _: f"resumed: {e.reason}"),
    ("Rollout", "RolledBack"): _rolled_back,
}
