"""RetrainCampaign: from the breaches that opened it to the candidate it produced (or why it produced none)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.campaign_dataset import CampaignDataset
from domain.errors import IllegalTransition, NotFound
from domain.payloads import BreachRef, CompletionDetails, CooldownRef, TrainingConfig, TrainingMetrics
from domain.step_claims import StepClaim, StepClaims

STATES = ("open", "awaiting_review", "training", "validating", "completed", "abandoned", "failed")
TERMINAL_STATES = ("completed", "abandoned")
OUTCOMES = ("insufficient_data", "candidate_validated", "candidate_rejected")


class RetrainCampaign(CampaignDataset, StepClaims, Aggregate):
    """One retraining effort for one version: curation, review, strategy, training, validation. Its dataset's
    commands and questions are CampaignDataset's, its steps' claims StepClaims'; every event and what it changes is
    here."""

    TOPIC = "retrain.RetrainCampaign"

    class Event(Aggregate.Event):
        actor: str

    class Created(Event, Aggregate.Created):
        TOPIC = "retrain.RetrainCampaign.Created"

    class Opened(Created):
        TOPIC = "retrain.RetrainCampaign.Opened"
        number: int
        version_id: str
        version_label: str
        breaches: list[BreachRef]
        reason: str | None
        cooldown: CooldownRef | None = None  # opened by breaches still open once the cooldown passed (rule 4.2)

    class BreachAttached(Event):
        TOPIC = "retrain.RetrainCampaign.BreachAttached"
        breach: BreachRef

    class DatasetCurated(Event):
        TOPIC = "retrain.RetrainCampaign.DatasetCurated"
        dataset_id: str
        included: int
        train_items: int
        validation_items: int
        excluded: dict[str, int]
        label_sources: dict[str, int]
        awaiting_review: list[str]
        report_id: str | None = None  # the per-item curation report; absent from events recorded before it existed

    class ReviewDecided(Event):
        TOPIC = "retrain.RetrainCampaign.ReviewDecided"
        item: str
        decision: str
        label: str | None

    class ReviewCompleted(Event):
        TOPIC = "retrain.RetrainCampaign.ReviewCompleted"
        auto: bool
        approved: int
        rejected: int
        dataset_id: str | None

    class StrategyChosen(Event):
        TOPIC = "retrain.RetrainCampaign.StrategyChosen"
        strategy: str
        reasons: list[str]
        forced: bool

    class TrainingStarted(Event):
        TOPIC = "retrain.RetrainCampaign.TrainingStarted"
        attempt: int
        strategy: str
        config: TrainingConfig
        seed: int

    class CandidateTrained(Event):
        TOPIC = "retrain.RetrainCampaign.CandidateTrained"
        candidate_id: str
        candidate_label: str
        artifact_sha256: str
        metrics: TrainingMetrics

    class TrainingFailed(Event):
        TOPIC = "retrain.RetrainCampaign.TrainingFailed"
        attempt: int
        error: str

    class Completed(Event):
        TOPIC = "retrain.RetrainCampaign.Completed"
        outcome: str
        details: CompletionDetails

    class Abandoned(Event):
        TOPIC = "retrain.RetrainCampaign.Abandoned"
        reason: str

    class DatasetAmended(Event):
        """A user's data erased (SPEC 7): the datasets not yet used for training, re-written without their items."""

        TOPIC = "retrain.RetrainCampaign.DatasetAmended"
        dataset_id: str | None  # the curated dataset re-written (None: unchanged, already used for training)
        final_id: str | None  # the reviewed dataset re-written
        report_id: str | None  # the curation report re-written
        removed: int
        included: int
        train_items: int
        validation_items: int
        awaiting_review: list[str]
        reason: str

    class StepClaimed(Event):
        TOPIC = "retrain.RetrainCampaign.StepClaimed"
        step: str
        worker: str
        expires_at: datetime

    @staticmethod
    def create_id(number: int, **_: Any) -> UUID:
        """Campaigns are numbered; two processes opening the same number collide and one retries."""
        return uuid5(NAMESPACE_URL, f"retrain/RetrainCampaign/{number}")

    # Not keyword-only: eventsourcing 9.5.6 takes a keyword-only parameter with a default for a required one.
    @event(Opened)
    def __init__(
        self, number: int, version_id: str, version_label: str, breaches: list[BreachRef],
        reason: str | None, actor: str, timestamp: datetime, cooldown: CooldownRef | None = None,
    ) -> None:
        self.number = number
        self.version_id = version_id
        self.version_label = version_label
        self.breaches = list(breaches)
        self.reason = reason
        self.cooldown = cooldown
        self.state = "open"
        self.opened_at = timestamp
        self.ended_at: datetime | None = None
        self.dataset: dict[str, Any] | None = None
        self.curated_at: datetime | None = None
        self.pending_review: list[str] = []
        self.review_decisions: dict[str, dict[str, Any]] = {}
        self.review_completed = False
        self.strategy: str | None = None
        self.strategy_reasons: list[str] = []
        self.attempts = 0
        self.candidate: dict[str, Any] | None = None
        self.outcome: str | None = None
        self.last_error: str | None = None
        self.claims: dict[str, StepClaim] = {}

    @property
    def is_active(self) -> bool:
        return self.state not in TERMINAL_STATES

    @event(StepClaimed)
    def _step_claimed(self, step: str, worker: str, expires_at: datetime, actor: str, timestamp: datetime) -> None:
        """A worker claimed a step (StepClaims.claim_step)."""
        if not hasattr(self, "claims"):
            self.claims = {}
        self.claims[step] = {"worker": worker, "expires_at": expires_at}

    def _require(self, *states: str, action: str) -> None:
        if self.state not in states:
            raise IllegalTransition(f"cannot {action} campaign {self.number}: it is {self.state}")

    def attach_breach(self, *, breach: BreachRef, actor: str, timestamp: datetime) -> None:
        """Rule 4.2: a new breach on a version with an open campaign joins it."""
        if not self.is_active:
            raise IllegalTransition(f"cannot attach a breach to campaign {self.number}: it is {self.state}")
        self._breach_attached(breach=breach, actor=actor, timestamp=timestamp)

    @event(BreachAttached)
    def _breach_attached(self, breach: BreachRef, actor: str, timestamp: datetime) -> None:
        self.breaches.append(breach)

    @event(DatasetCurated)
    def _dataset_curated(
        self, dataset_id: str, included: int, train_items: int, validation_items: int, excluded: dict[str, int],
        label_sources: dict[str, int], awaiting_review: list[str], actor: str, timestamp: datetime,
        report_id: str | None = None,
    ) -> None:
        """Curation made the dataset (CampaignDataset.record_dataset)."""
        self.dataset = {
            "dataset_id": dataset_id, "included": included, "train_items": train_items,
            "validation_items": validation_items, "excluded": dict(excluded), "label_sources": dict(label_sources),
            "awaiting_review": len(awaiting_review), "report_id": report_id,
        }
        self.curated_at = timestamp
        self.pending_review = list(awaiting_review)
        if self.pending_review:
            self.state = "awaiting_review"
        self._release("curate")

    @event(DatasetAmended)
    def _dataset_amended(
        self, dataset_id: str | None, final_id: str | None, report_id: str | None, removed: int, included: int,
        train_items: int, validation_items: int, awaiting_review: list[str], reason: str, actor: str,
        timestamp: datetime,
    ) -> None:
        """An erasure re-wrote the datasets (CampaignDataset.amend_dataset)."""
        assert self.dataset is not None
        if report_id:
            self.dataset["report_id"] = report_id
        if dataset_id:
            self.dataset.update(dataset_id=dataset_id, included=included, train_items=train_items,
                                validation_items=validation_items)
        if final_id:
            self.dataset["final_id"] = final_id
        self.dataset["erased"] = self.dataset.get("erased", 0) + removed
        self.pending_review = [item for item in self.pending_review if item in awaiting_review]
        self.dataset["awaiting_review"] = len(self.pending_review)

    def decide_review(self, *, item: str, decision: str, label: str | None, actor: str, timestamp: datetime) -> None:
        """The procedure's "validation humaine": approve (optionally relabel) or reject one critical item."""
        if item in self.review_decisions:
            raise IllegalTransition(f"item {item} of campaign {self.number} is already decided")
        self._require("awaiting_review", action="review")
        if item not in self.pending_review:
            raise NotFound(f"campaign {self.number} has no review item {item}")
        if decision not in ("approved", "rejected"):
            raise IllegalTransition(f"unknown review decision {decision!r}")
        self._review_decided(item=item, decision=decision, label=label, actor=actor, timestamp=timestamp)

    @event(ReviewDecided)
    def _review_decided(self, item: str, decision: str, label: str | None, actor: str, timestamp: datetime) -> None:
        self.pending_review.remove(item)
        self.review_decisions[item] = {"decision": decision, "label": label, "actor": actor}

    def complete_review(self, *, auto: bool, dataset_id: str | None, actor: str, timestamp: datetime) -> None:
        """Every critical item is decided (or none needed a decision): the campaign moves on."""
        self._require("open", "awaiting_review", action="complete the review of")
        if self.dataset is None or self.pending_review or self.review_completed:
            raise IllegalTransition(f"campaign {self.number} has no finished review to complete")
        approved = sum(1 for d in self.review_decisions.values() if d["decision"] == "approved")
        self._review_completed(
            auto=auto, approved=approved, rejected=len(self.review_decisions) - approved, dataset_id=dataset_id,
            actor=actor, timestamp=timestamp,
        )

    @event(ReviewCompleted)
    def _review_completed(
        self, auto: bool, approved: int, rejected: int, dataset_id: str | None, actor: str, timestamp: datetime
    ) -> None:
        self.review_completed = True
        self.state = "open"
        if self.dataset is not None and dataset_id:
            self.dataset["final_id"] = dataset_id

    def choose_strategy(self, *, strategy: str, reasons: list[str], forced: bool, actor: str,
                        timestamp: datetime) -> None:
        """Rule 4.4 once the review is done; an operator may force a strategy as soon as the dataset exists."""
        if forced:
            self._require("open", "awaiting_review", "failed", action="force a strategy for")
        else:
            self._require("open", "failed", action="choose a strategy for")
        if self.dataset is None or not (self.review_completed or forced):
            raise IllegalTransition(f"campaign {self.number} has no reviewed dataset yet")
        self._strategy_chosen(strategy=strategy, reasons=reasons, forced=forced, actor=actor, timestamp=timestamp)

    @event(StrategyChosen)
    def _strategy_chosen(self, strategy: str, reasons: list[str], forced: bool, actor: str,
                         timestamp: datetime) -> None:
        self.strategy = strategy
        self.strategy_reasons = list(reasons)

    def start_training(self, *, config: TrainingConfig, seed: int, actor: str, timestamp: datetime) -> None:
        self._require("open", "failed", action="start training for")
        if self.strategy is None or not self.review_completed:
            raise IllegalTransition(f"campaign {self.number} has no reviewed dataset and strategy yet")
        self._training_started(
            attempt=self.attempts + 1, strategy=self.strategy, config=config, seed=seed, actor=actor,
            timestamp=timestamp,
        )

    @event(TrainingStarted)
    def _training_started(self, attempt: int, strategy: str, config: TrainingConfig, seed: int, actor: str,
                          timestamp: datetime) -> None:
        self.attempts = attempt
        self.state = "training"
        self.last_error = None

    def record_candidate(self, *, candidate_id: str, candidate_label: str, artifact_sha256: str,
                         metrics: TrainingMetrics, actor: str, timestamp: datetime) -> None:
        self._require("training", action="record a candidate for")
        self._candidate_trained(candidate_id=candidate_id, candidate_label=candidate_label,
                                artifact_sha256=artifact_sha256, metrics=metrics, actor=actor, timestamp=timestamp)

    @event(CandidateTrained)
    def _candidate_trained(self, candidate_id: str, candidate_label: str, artifact_sha256: str,
                           metrics: TrainingMetrics, actor: str, timestamp: datetime) -> None:
        self.candidate = {"id": candidate_id, "label": candidate_label, "artifact_sha256": artifact_sha256}
        self.state = "validating"
        self._release("train")

    def fail_training(self, *, error: str, actor: str, timestamp: datetime) -> None:
        self._require("training", action="fail training for")
        self._training_failed(attempt=self.attempts, error=error, actor=actor, timestamp=timestamp)

    @event(TrainingFailed)
    def _training_failed(self, attempt: int, error: str, actor: str, timestamp: datetime) -> None:
        self.state = "failed"
        self.last_error = error
        self._release("train")

    def complete(self, *, outcome: str, details: CompletionDetails, actor: str, timestamp: datetime) -> None:
        if outcome not in OUTCOMES:
            raise IllegalTransition(f"unknown campaign outcome {outcome!r}")
        allowed = ("open",) if outcome == "insufficient_data" else ("validating",)
        self._require(*allowed, action=f"complete ({outcome})")
        self._completed(outcome=outcome, details=details, actor=actor, timestamp=timestamp)

    @event(Completed)
    def _completed(self, outcome: str, details: CompletionDetails, actor: str, timestamp: datetime) -> None:
        self.state = "completed"
        self.outcome = outcome
        self.ended_at = timestamp
        self.claims = {}

    def abandon(self, *, reason: str, actor: str, timestamp: datetime) -> None:
        if not self.is_active:
            raise IllegalTransition(f"cannot abandon campaign {self.number}: it is {self.state}")
        self._abandoned(reason=reason, actor=actor, timestamp=timestamp)

    @event(Abandoned)
    def _abandoned(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.state = "abandoned"
        self.ended_at = timestamp
        self.claims = {}
