"""Rule 4.5: the strategy (chosen once, or forced by an operator) and each training attempt, which registers a
candidate or records the failure."""

from __future__ import annotations

from typing import Any

import structlog

from application.ledger import Ledger
from application.models import lineage_original, model_ref, original_dataset_id
from application.ports import Clock, Trainer, TrainingRequest
from application.review import Review
from application.settings import TrainingSettings
from domain.errors import FullRetrainingUnavailable, InvalidInput
from domain.model_version import ModelVersion
from domain.policy import StrategyPolicy
from domain.retrain_campaign import RetrainCampaign
from domain.rules.strategy import STRATEGIES, Strategy, StrategyDecision, TriggeringBreach, choose_strategy

log = structlog.get_logger()


class Training:
    """Chooses the strategy and runs the trainer, one recorded attempt at a time."""

    def __init__(self, *, ledger: Ledger, trainer: Trainer, review: Review, clock: Clock, policy: StrategyPolicy,
                 settings: TrainingSettings) -> None:
        self.ledger = ledger
        self.trainer = trainer
        self.review = review  # a review with nothing left pending completes before the training starts
        self.clock = clock
        self.policy = policy
        self.settings = settings

    # -- the strategy -------------------------------------------------------------------------------
    def decide_strategy(self, campaign: RetrainCampaign, forced: Strategy | None = None) -> StrategyDecision:
        version = self.ledger.version(campaign.version_id)
        policy = self.policy
        original_training_items = self._original_training_items(version)
        if forced == "full" and original_training_items == 0:
            raise FullRetrainingUnavailable(
                f"full retraining needs the lineage's original training set and {version.label} has none: attach one "
                f"with `retrain model datasets {version.label} --train DIR` (or force fine_tune)")
        return choose_strategy(
            breaches=[TriggeringBreach(b["rule"], b.get("observed"), b.get("segment")) for b in campaign.breaches],
            curated_items=campaign.curated_items,
            original_training_items=original_training_items,
            fine_tunes_since_full=self._fine_tunes_since_full(version),
            major_drift_below=policy.major_drift_below,
            curated_fraction_for_full=policy.curated_fraction_for_full,
            max_consecutive_fine_tunes=policy.max_consecutive_fine_tunes,
            forced=forced,
        )

    def _original_training_items(self, version: ModelVersion) -> int:
        """The size of the original training set (0: the lineage has none)."""
        found = lineage_original(self.ledger, version)
        return int(found[2].get("train", 0)) if found else 0

    def original_dataset_id(self, version: ModelVersion) -> str | None:
        """The original dataset of the lineage (rehearsal, original validation and test sets), if it is known."""
        return original_dataset_id(self.ledger, version)

    def force_strategy(self, ref: str, strategy: str, *, actor: str) -> RetrainCampaign:
        """An operator forces fine-tuning or full retraining (recorded with the reasons that held anyway)."""
        if strategy not in STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}")

        def command() -> RetrainCampaign:
            campaign = self.ledger.campaign(ref)
            decision = self.decide_strategy(campaign, strategy)  # type: ignore[arg-type]
            campaign.choose_strategy(strategy=decision.strategy, reasons=decision.reasons, forced=True, actor=actor,
                                     timestamp=self.clock.now())
            self.ledger.save(campaign)
            return campaign

        return self.ledger.retrying(command)

    def _fine_tunes_since_full(self, version: ModelVersion) -> int:
        count, current = 0, version
        while current is not None and current.strategy == "fine_tune":
            count += 1
            current = self.ledger.version(current.parent_id) if current.parent_id else None
        return count

    # -- the attempts -------------------------------------------------------------------------------
    def train(self, ref: str, *, actor: str, forced: str | None = None) -> RetrainCampaign:
        """Choose the strategy (once), record TrainingStarted, train, then register the candidate or the failure.
        Each record is retried on fresh state when another process changed the campaign meanwhile."""
        if forced is not None and forced not in STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}")
        campaign, config = self.ledger.retrying(lambda: self._start_training(ref, actor, forced))
        if campaign.state == "completed":  # the review left too few training items
            return campaign
        parent, seed = self.ledger.version(campaign.version_id), self.settings.seed
        request = TrainingRequest(campaign.strategy or "fine_tune", model_ref(parent),
                                  campaign.training_dataset_id or "", config, seed, config["original_dataset_id"])
        log.info("training_started", campaign=campaign.number, strategy=request.strategy, attempt=campaign.attempts)
        try:
            trained = self.trainer.train(request)
        except Exception as error:  # any failure of the trainer is recorded, never lost
            # The event holds the error's class and a fixed sentence: an exception's text may quote data.
            message = f"{type(error).__name__}: training failed (the worker's log says why)"
            campaign = self.ledger.retrying(lambda: self._fail_training(ref, message, actor))
            log.warning("training_failed", campaign=campaign.number, error=_one_line(error))
            return campaign
        return self._register_candidate(campaign, parent, trained, config, seed, actor)

    def restart(self, ref: str, *, actor: str, forced: str | None) -> RetrainCampaign:
        """Train a failed campaign again; an interrupted training (the process died mid-training) is first recorded
        as failed."""
        if self.ledger.campaign(ref).state == "training":  # interrupted: the process died mid-training
            self.ledger.retrying(lambda: self._fail_training(ref, "interrupted: training did not finish", actor))
        return self.train(ref, actor=actor, forced=forced)

    def _start_training(self, ref: str, actor: str, forced: str | None) -> tuple[RetrainCampaign, dict[str, Any]]:
        """TrainingStarted (with the strategy, chosen once) and its config, durable before the work starts: a crash
        leaves it retryable."""
        campaign = self.review.complete_if_done(self.ledger.campaign(ref), actor, save=False)
        if campaign.state == "completed":
            self.ledger.save(campaign)
            return campaign, {}
        now = self.clock.now()
        if campaign.strategy is None or forced:
            decision = self.decide_strategy(campaign, forced)  # type: ignore[arg-type]
            campaign.choose_strategy(strategy=decision.strategy, reasons=decision.reasons, forced=decision.forced,
                                     actor=actor, timestamp=now)
        parent = self.ledger.version(campaign.version_id)
        config = {**training_config(self.settings, campaign.strategy or "fine_tune"),
                  "original_dataset_id": self.original_dataset_id(parent)}
        campaign.start_training(config=config, seed=self.settings.seed, actor=actor, timestamp=now)
        self.ledger.save(campaign)
        return campaign, config

    def _fail_training(self, ref: str, error: str, actor: str) -> RetrainCampaign:
        campaign = self.ledger.campaign(ref)
        campaign.fail_training(error=error, actor=actor, timestamp=self.clock.now())
        self.ledger.save(campaign)
        return campaign

    def _register_candidate(self, campaign: RetrainCampaign, parent: ModelVersion, trained: Any,
                            config: dict[str, Any], seed: int, actor: str) -> RetrainCampaign:
        def command() -> RetrainCampaign:
            fresh = self.ledger.campaign(str(campaign.id))
            now = self.clock.now()
            candidate = ModelVersion(
                label=self.ledger.next_version_label(), parent_id=str(parent.id), architecture=trained.architecture,
                input_spec=trained.input_spec, classes=trained.classes, artifact_sha256=trained.artifact_sha256,
                dataset_id=fresh.training_dataset_id, strategy=fresh.strategy,
                training_config={**config, **trained.choices}, seed=seed,
                training_metrics=trained.metrics, baseline_ms=None, campaign_id=str(fresh.id), actor=actor,
                timestamp=now, architecture_options=parent.architecture_options,
            )
            fresh.record_candidate(candidate_id=str(candidate.id), candidate_label=candidate.label,
                                   artifact_sha256=trained.artifact_sha256, metrics=trained.metrics, actor=actor,
                                   timestamp=now)
            self.ledger.save(candidate, fresh)
            log.info("candidate_trained", campaign=fresh.number, candidate=candidate.label)
            return fresh

        return self.ledger.retrying(command)


def training_config(t: TrainingSettings, strategy: str) -> dict[str, Any]:
    """Rule 4.5's hyper-parameters for a strategy, from the settings: what TrainingStarted records."""
    common = {"patience": t.patience, "batch_size": t.batch_size, "world_size": t.world_size,
              "drift_matching": t.drift_matching, "balanced_validation": t.balanced_validation,
              "rehearsal_max": t.rehearsal_max, "rehearsal_ratio": t.rehearsal_ratio,
              "rehearsal_min": t.rehearsal_min}
    if strategy == "full":
        return {"learning_rate": t.full_learning_rate, "max_epochs": t.full_max_epochs,
                "plateau_factor": t.full_plateau_factor, **common}
    rates = list(dict.fromkeys([t.fine_tune_learning_rate, *t.fine_tune_learning_rate_candidates]))
    return {"learning_rate": t.fine_tune_learning_rate, "learning_rates": rates, "max_epochs": t.fine_tune_max_epochs,
            "small_set_items": t.fine_tune_small_set_items, "small_set_max_epochs": t.fine_tune_small_set_max_epochs,
            "plateau_factor": t.fine_tune_plateau_factor, **common}


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
