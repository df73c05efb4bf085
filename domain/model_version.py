"""ModelVersion: a trained model, its lineage, and everything that happened to it while it served."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition, NotRestorable
from domain.payloads import (
    ArchitectureOptions,
    BreachEvidence,
    BreachFigures,
    Figures,
    GateResult,
    InputSpec,
    PhaseEvidence,
    RestoredVersion,
    TrainingConfig,
    TrainingMetrics,
    WindowFigures,
)
from domain.rules.rollback import restore_refusal

STATES = ("registered", "validated", "rejected", "canary", "production", "superseded", "rolled_back", "retired")
SERVING_STATES = ("canary", "production")


class ModelVersion(Aggregate):
    """A model version; its events answer "why is this model in production?"."""

    TOPIC = "retrain.ModelVersion"

    class Event(Aggregate.Event):
        actor: str

    class Created(Event, Aggregate.Created):
        TOPIC = "retrain.ModelVersion.Created"

    class Registered(Created):
        TOPIC = "retrain.ModelVersion.Registered"
        label: str
        parent_id: str | None
        architecture: str
        input_spec: InputSpec
        classes: list[str]
        artifact_sha256: str
        dataset_id: str | None
        strategy: str | None
        training_config: TrainingConfig
        seed: int | None
        training_metrics: TrainingMetrics
        baseline_ms: float | None
        campaign_id: str | None
        architecture_options: ArchitectureOptions | None = None  # a team architecture's kwargs and search path

    class DatasetsAttached(Event):
        """A team's original datasets, attached after registration (`retrain model datasets`)."""

        TOPIC = "retrain.ModelVersion.DatasetsAttached"
        dataset_id: str
        sizes: dict[str, int]
        sources: dict[str, str]

    class BaselineMeasured(Event):
        TOPIC = "retrain.ModelVersion.BaselineMeasured"
        baseline_ms: float
        sample_size: int

    class ThresholdBreached(Event):
        TOPIC = "retrain.ModelVersion.ThresholdBreached"
        rule: str
        segment: str | None
        observed: float | None
        threshold: float
        window_size: int
        window_start: datetime | None
        window_end: datetime | None
        evidence: BreachEvidence

    class ThresholdRecovered(Event):
        TOPIC = "retrain.ModelVersion.ThresholdRecovered"
        rule: str
        segment: str | None
        observed: float | None
        threshold: float
        window_size: int

    class CandidateValidated(Event):
        TOPIC = "retrain.ModelVersion.CandidateValidated"
        parent_id: str
        gates: list[GateResult]
        figures: Figures

    class CandidateRejected(Event):
        TOPIC = "retrain.ModelVersion.CandidateRejected"
        parent_id: str
        failed_gates: list[str]
        gates: list[GateResult]
        figures: Figures

    class CanaryStarted(Event):
        TOPIC = "retrain.ModelVersion.CanaryStarted"
        rollout_id: str

    class Promoted(Event):
        TOPIC = "retrain.ModelVersion.Promoted"
        reason: str
        rollout_id: str | None

    class Superseded(Event):
        TOPIC = "retrain.ModelVersion.Superseded"
        by_version: str
        reason: str

    class RolledBack(Event):
        TOPIC = "retrain.ModelVersion.RolledBack"
        reason: str
        evidence: PhaseEvidence | RestoredVersion  # the rollout's health, or the version restored in its place
        rollout_id: str | None

    class Restored(Event):
        TOPIC = "retrain.ModelVersion.Restored"
        reason: str
        replacing: str | None

    class Retired(Event):
        TOPIC = "retrain.ModelVersion.Retired"
        reason: str

    @staticmethod
    def create_id(label: str, **_: Any) -> UUID:
        """Labels are unique: two processes registering the same label collide instead of forking."""
        return uuid5(NAMESPACE_URL, f"retrain/ModelVersion/{label}")

    @event(Registered)
    def __init__(
        self,
        *,
        label: str,
        parent_id: str | None,
        architecture: str,
        input_spec: InputSpec,
        classes: list[str],
        artifact_sha256: str,
        dataset_id: str | None,
        strategy: str | None,
        training_config: TrainingConfig,
        seed: int | None,
        training_metrics: TrainingMetrics,
        baseline_ms: float | None,
        campaign_id: str | None,
        actor: str,
        timestamp: datetime,
        architecture_options: ArchitectureOptions | None = None,
    ) -> None:
        self.label = label
        self.architecture_options = dict(architecture_options or {})
        self.attached_dataset: dict[str, Any] | None = None
        self.parent_id = parent_id
        self.architecture = architecture
        self.input_spec = input_spec
        self.classes = list(classes)
        self.artifact_sha256 = artifact_sha256
        self.dataset_id = dataset_id
        self.strategy = strategy
        self.training_config = training_config
        self.seed = seed
        self.training_metrics = training_metrics
        self.baseline_ms = baseline_ms
        self.campaign_id = campaign_id
        self.state = "registered"
        self.was_production = False
        self.reinforced_since: datetime | None = None
        self.open_breaches: dict[str, dict[str, Any]] = {}
        self.validation: dict[str, Any] | None = None
        self.rollout_id: str | None = None

    # -- guards -----------------------------------------------------------------------------------
    def _require(self, *states: str, action: str) -> None:
        if self.state not in states:
            raise IllegalTransition(f"cannot {action} {self.label}: it is {self.state}")

    @staticmethod
    def breach_key(rule: str, segment: str | None) -> str:
        return f"{rule}/{segment}" if segment else rule

    def original_dataset(self) -> tuple[str, dict[str, int]] | None:
        """This version's own original dataset and its split sizes: attached later, or (for the first version of a
        lineage) brought at registration or trained on by `retrain init`; None when it has none of its own. A
        retrained version's training config names the original dataset it used, but is no source: it inherits its
        lineage's, so datasets attached to its parent later serve it too."""
        if self.attached_dataset is not None:
            return self.attached_dataset["dataset_id"], dict(self.attached_dataset["sizes"])
        dataset_id = self.training_config.get("original_dataset_id")
        if dataset_id and self.parent_id is None:
            return dataset_id, dict(self.training_config.get("original_sizes") or
                                    {"train": int(self.training_metrics.get(
                                        "original_train_items", self.training_metrics.get("train_items", 0)))})
        return None

    def attach_datasets(self, *, dataset_id: str, sizes: dict[str, int], sources: dict[str, str], actor: str,
                        timestamp: datetime) -> None:
        """A team's own train/validation/test sets become this lineage's original dataset."""
        if self.state == "retired":
            raise IllegalTransition(f"cannot attach datasets to {self.label}: it is retired")
        self._datasets_attached(dataset_id=dataset_id, sizes=sizes, sources=sources, actor=actor, timestamp=timestamp)

    @event(DatasetsAttached)
    def _datasets_attached(self, dataset_id: str, sizes: dict[str, int], sources: dict[str, str], actor: str,
                           timestamp: datetime) -> None:
        self.attached_dataset = {"dataset_id": dataset_id, "sizes": dict(sizes), "sources": dict(sources),
                                 "at": timestamp}

    # -- monitoring -------------------------------------------------------------------------------
    def measure_baseline(self, *, baseline_ms: float, sample_size: int, actor: str, timestamp: datetime) -> None:
        if self.baseline_ms is not None:
            raise IllegalTransition(f"{self.label} already has a latency baseline")
        self._baseline_measured(baseline_ms=baseline_ms, sample_size=sample_size, actor=actor, timestamp=timestamp)

    @event(BaselineMeasured)
    def _baseline_measured(self, baseline_ms: float, sample_size: int, actor: str, timestamp: datetime) -> None:
        self.baseline_ms = baseline_ms

    def record_breach(self, *, rule: str, segment: str | None, actor: str, timestamp: datetime,
                      **figures: Unpack[BreachFigures]) -> None:
        """Rule 4.1: one ThresholdBreached per episode."""
        self._require(*SERVING_STATES, action="record a breach on")
        if self.breach_key(rule, segment) in self.open_breaches:
            raise IllegalTransition(f"{rule} is already breached on {self.label}")
        self._breached(rule=rule, segment=segment, actor=actor, timestamp=timestamp, **figures)

    @event(ThresholdBreached)
    def _breached(
        self, rule: str, segment: str | None, observed: float | None, threshold: float, window_size: int,
        window_start: datetime | None, window_end: datetime | None, evidence: BreachEvidence, actor: str,
        timestamp: datetime,
    ) -> None:
        self.open_breaches[self.breach_key(rule, segment)] = {
            "rule": rule, "segment": segment, "observed": observed, "threshold": threshold, "since": timestamp,
        }

    def record_recovery(self, *, rule: str, segment: str | None, actor: str, timestamp: datetime,
                        **figures: Unpack[WindowFigures]) -> None:
        if self.breach_key(rule, segment) not in self.open_breaches:
            raise IllegalTransition(f"{rule} is not breached on {self.label}")
        self._recovered(rule=rule, segment=segment, actor=actor, timestamp=timestamp, **figures)

    @event(ThresholdRecovered)
    def _recovered(
        self, rule: str, segment: str | None, observed: float | None, threshold: float, window_size: int,
        actor: str, timestamp: datetime,
    ) -> None:
        self.open_breaches.pop(self.breach_key(rule, segment), None)

    # -- validation -------------------------------------------------------------------------------
    def validate(self, *, parent_id: str, gates: list[GateResult], figures: Figures, actor: str,
                 timestamp: datetime) -> None:
        self._require("registered", action="validate")
        self._validated(parent_id=parent_id, gates=gates, figures=figures, actor=actor, timestamp=timestamp)

    @event(CandidateValidated)
    def _validated(self, parent_id: str, gates: list[GateResult], figures: Figures, actor: str,
                   timestamp: datetime) -> None:
        self.state = "validated"
        self.validation = {"passed": True, "gates": gates, "figures": figures}

    def reject(self, *, parent_id: str, failed_gates: list[str], gates: list[GateResult], figures: Figures,
               actor: str, timestamp: datetime) -> None:
        self._require("registered", action="reject")
        self._rejected(parent_id=parent_id, failed_gates=failed_gates, gates=gates, figures=figures, actor=actor,
                       timestamp=timestamp)

    @event(CandidateRejected)
    def _rejected(self, parent_id: str, failed_gates: list[str], gates: list[GateResult], figures: Figures,
                  actor: str, timestamp: datetime) -> None:
        self.state = "rejected"
        self.validation = {"passed": False, "failed": failed_gates, "gates": gates, "figures": figures}

    # -- serving ----------------------------------------------------------------------------------
    def start_canary(self, *, rollout_id: str, actor: str, timestamp: datetime) -> None:
        self._require("validated", action="roll out")
        self._canary_started(rollout_id=rollout_id, actor=actor, timestamp=timestamp)

    @event(CanaryStarted)
    def _canary_started(self, rollout_id: str, actor: str, timestamp: datetime) -> None:
        self.state = "canary"
        self.rollout_id = rollout_id
        self.open_breaches = {}

    def promote(self, *, reason: str, actor: str, timestamp: datetime, rollout_id: str | None = None,
                initial: bool = False) -> None:
        """To production: a canary at the end of its rollout, or a registered version when none serves yet."""
        self._require(*(("canary", "registered", "validated") if initial else ("canary",)), action="promote")
        self._promoted(reason=reason, rollout_id=rollout_id, actor=actor, timestamp=timestamp)

    @event(Promoted)
    def _promoted(self, reason: str, rollout_id: str | None, actor: str, timestamp: datetime) -> None:
        self.state = "production"
        self.was_production = True
        # Reinforced monitoring follows a deployment that replaced another version, not a first registration.
        self.reinforced_since = timestamp if rollout_id else None
        self.open_breaches = {}

    def supersede(self, *, by_version: str, reason: str, actor: str, timestamp: datetime) -> None:
        self._require("production", action="supersede")
        self._superseded(by_version=by_version, reason=reason, actor=actor, timestamp=timestamp)

    @event(Superseded)
    def _superseded(self, by_version: str, reason: str, actor: str, timestamp: datetime) -> None:
        self.state = "superseded"
        self.reinforced_since = None
        self.open_breaches = {}

    def roll_back(self, *, reason: str, evidence: PhaseEvidence | RestoredVersion, actor: str, timestamp: datetime,
                  rollout_id: str | None = None) -> None:
        self._require(*SERVING_STATES, action="roll back")
        self._rolled_back(reason=reason, evidence=evidence, rollout_id=rollout_id, actor=actor, timestamp=timestamp)

    @event(RolledBack)
    def _rolled_back(self, reason: str, evidence: PhaseEvidence | RestoredVersion, rollout_id: str | None,
                     actor: str, timestamp: datetime) -> None:
        self.state = "rolled_back"
        self.reinforced_since = None
        self.open_breaches = {}

    def restore(self, *, reason: str, replacing: str | None, actor: str, timestamp: datetime) -> None:
        """Rule 4.8: make a former production version production again."""
        refusal = restore_refusal(state=self.state, was_production=self.was_production)
        if refusal:
            raise NotRestorable(f"cannot restore {self.label}: {refusal}")
        self._restored(reason=reason, replacing=replacing, actor=actor, timestamp=timestamp)

    @event(Restored)
    def _restored(self, reason: str, replacing: str | None, actor: str, timestamp: datetime) -> None:
        self.state = "production"
        self.reinforced_since = timestamp
        self.open_breaches = {}

    def retire(self, *, reason: str, actor: str, timestamp: datetime) -> None:
        if self.state in SERVING_STATES or self.state == "retired":
            raise IllegalTransition(f"cannot retire {self.label}: it is {self.state}")
        self._retired(reason=reason, actor=actor, timestamp=timestamp)

    @event(Retired)
    def _retired(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.state = "retired"
