"""Campaigns (rules 4.2 to 4.6): open on a breach, curate, review, choose a strategy, train, validate."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.persistence import IntegrityError

from application.campaign_cooldown import not_retryable, reopening, still_open_breaches
from application.campaign_views import curation_items
from application.curation import Curator, apply_review, store_manifest
from application.ledger import Ledger
from application.models import lineage_original
from application.ports import BlobStore, Clock, Evaluator, ModelRef, ReviewQueue, Trainer, TrainingRequest
from application.records import ReviewItem
from application.settings import Settings, TrainingSettings
from application.validation import judge_gates
from domain.errors import (
    CampaignAlreadyOpen,
    FullRetrainingUnavailable,
    IllegalTransition,
    InvalidInput,
    StepAlreadyClaimed,
)
from domain.model_version import ModelVersion
from domain.payloads import CooldownRef
from domain.retrain_campaign import RetrainCampaign
from domain.rules.campaigns import campaign_action_for_breach
from domain.rules.curation import enough_training_items, item_reference
from domain.rules.strategy import STRATEGIES, Strategy, StrategyDecision, TriggeringBreach, choose_strategy
from domain.rules.validation_gates import measurable

if TYPE_CHECKING:
    from application.rollouts import Rollouts

log = structlog.get_logger()
SYSTEM = "system:campaign"
WORKER = "system:worker"


def worker_name(kind: str) -> str:
    """Who claims a step: the kind of process, its host and its pid (`worker:host:1234`)."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def worker_gone(holder: str) -> bool:
    """Whether a claim's holder certainly no longer runs: this very process (which is not running that step now),
    or a process of this host that has exited. A holder on another host is trusted until its lease lapses."""
    _, host, pid = (["", ""] + holder.rsplit(":", 2))[-3:]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def model_ref(version: ModelVersion) -> ModelRef:
    return ModelRef(str(version.id), version.label, version.architecture, version.input_spec, version.classes,
                    version.artifact_sha256, dict(version.architecture_options))


class Campaigns:
    """Drives each campaign through the procedure, one recorded decision at a time."""

    def __init__(
        self, *, ledger: Ledger, feedback: ReviewQueue, blobs: BlobStore, curator: Curator, trainer: Trainer,
        evaluator: Evaluator, clock: Clock, settings: Settings, rollouts: Rollouts | None = None,
    ) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.curator = curator
        self.trainer = trainer
        self.evaluator = evaluator
        self.clock = clock
        self.settings = settings
        self.rollouts = rollouts  # a validated candidate starts its rollout (automatic by default)

    # -- rule 4.2 -----------------------------------------------------------------------------------
    def for_breaches(
        self, version: ModelVersion, breaches: list[dict[str, Any]], *, actor: str, timestamp: datetime
    ) -> RetrainCampaign | None:
        """The campaign a breach opens or joins (to be saved with the version), or None for a canary."""
        campaign = self.ledger.open_campaign_for(str(version.id))
        action = campaign_action_for_breach(version.state, campaign is not None)
        if action == "ignore":
            return None
        if campaign is not None:
            for breach in breaches:
                campaign.attach_breach(breach=breach, actor=actor, timestamp=timestamp)
            return campaign
        return self._new(version, breaches, None, actor, timestamp)

    def after_cooldown(self, version: ModelVersion, *, actor: str, timestamp: datetime) -> RetrainCampaign | None:
        """Rule 4.2 after a campaign that produced no new version: the breaches still open open the next campaign
        once `campaigns.cooldown` has passed since it ended (to be saved with the version), or None."""
        if version.state != "production" or not version.open_breaches:
            return None  # the common case, decided without reading a campaign: the monitor asks on every evaluation
        cooldown = self.settings.campaigns.cooldown
        found = reopening(self.ledger, version, timestamp, cooldown)
        if not found.verdict.opens:
            return None
        return self._new(version, still_open_breaches(version), found.reason(cooldown), actor, timestamp,
                         cooldown=found.evidence(cooldown))

    def _new(self, version: ModelVersion, breaches: list[dict[str, Any]], reason: str | None, actor: str,
             timestamp: datetime, cooldown: CooldownRef | None = None) -> RetrainCampaign:
        campaign = RetrainCampaign(
            number=self.ledger.next_campaign_number(), version_id=str(version.id), version_label=version.label,
            breaches=breaches, reason=reason, actor=actor, timestamp=timestamp, cooldown=cooldown,
        )
        return campaign  # logged once saved (monitoring saves it with the breach)

    def open(self, *, reason: str, actor: str) -> RetrainCampaign:
        """An operator opens a campaign on the production version by hand."""
        if not reason.strip():
            raise InvalidInput("a reason is required to open a campaign")

        def command() -> RetrainCampaign:
            version = self.ledger.production()
            if version is None:
                raise IllegalTransition("no version is in production")
            if self.ledger.open_campaign_for(str(version.id)) is not None:
                raise CampaignAlreadyOpen(f"{version.label} already has an open campaign")
            campaign = self._new(version, [], reason, actor, self.clock.now())
            self.ledger.save(campaign)
            return campaign

        opened = self.ledger.retrying(command)
        log.info("campaign_opened", campaign=opened.number, version=opened.version_label, reason=reason)
        return opened

    def abandon(self, ref: str, *, reason: str, actor: str) -> RetrainCampaign:
        if not reason.strip():
            raise InvalidInput("a reason is required to abandon a campaign")

        def command() -> RetrainCampaign:
            campaign = self.ledger.campaign(ref)
            campaign.abandon(reason=reason, actor=actor, timestamp=self.clock.now())
            self.ledger.save(campaign)
            return campaign

        return self.ledger.retrying(command)

    # -- the steps ----------------------------------------------------------------------------------
    def step_all(self, *, worker: str | None = None) -> None:
        """Advance every active campaign as far as it can go now, claiming each step before running it.

        A campaign another process changed meanwhile (optimistic concurrency) is left for the next pass."""
        for campaign in self.ledger.campaigns():
            if campaign.is_active and campaign.state != "failed":
                try:
                    self.advance(str(campaign.id), worker=worker)
                except IntegrityError:
                    log.info("campaign_changed_meanwhile", campaign=campaign.number, worker=worker)

    def advance(self, ref: str, *, actor: str = SYSTEM, worker: str | None = None) -> RetrainCampaign:
        """Run every step that is due: curate, complete the review, train, validate. A step another worker holds
        (a live claim) is left to it; a training whose claim lapsed was interrupted and is run again."""
        worker = worker or worker_name("tick")
        campaign = self.ledger.campaign(ref)
        if campaign.state == "open" and campaign.dataset is None:
            if self.claim(ref, "curate", worker, lambda c: c.state == "open" and c.dataset is None) is None:
                return campaign
            campaign = self.curate(ref, actor=actor)
        if campaign.state == "open" and not campaign.review_completed:
            campaign = self.ledger.retrying(lambda: self._complete_review_if_done(self.ledger.campaign(ref), actor))
        if campaign.state == "open" and campaign.review_completed:
            if self.claim(ref, "train", worker, lambda c: c.state == "open" and c.review_completed) is None:
                return campaign
            campaign = self.train(ref, actor=actor)
        elif campaign.state == "training" and self._abandoned_training(campaign):
            if self.claim(ref, "train", worker, lambda c: c.state == "training") is None:
                return campaign
            log.warning("training_interrupted", campaign=campaign.number, worker=worker)
            campaign = self._retry_training(ref, actor=actor, forced=None)
        if campaign.state == "validating":
            if self.claim(ref, "validate", worker, lambda c: c.state == "validating") is None:
                return campaign
            campaign = self.validate(ref, actor=actor)
        return campaign

    def _abandoned_training(self, campaign: RetrainCampaign) -> bool:
        holder = campaign.claim_holder("train", self.clock.now())
        return holder is None or worker_gone(holder)

    def claim(self, ref: str, step: str, worker: str, due: Callable[[RetrainCampaign], bool]) -> RetrainCampaign | None:
        """Record that `worker` runs this step, if it is still due and no other worker holds it (optimistic
        concurrency: of two workers claiming at once, one saves and the other sees the claim)."""
        lease = self.settings.worker.lease(step)

        def command() -> RetrainCampaign | None:
            campaign = self.ledger.campaign(ref)
            if not due(campaign):
                return None
            now = self.clock.now()
            holder = campaign.claim_holder(step, now)
            campaign.claim_step(step=step, worker=worker, lease=lease, actor=WORKER, timestamp=now,
                                holder_gone=holder is not None and worker_gone(holder))
            self.ledger.save(campaign)
            return campaign

        try:
            claimed = self.ledger.retrying(command)
        except StepAlreadyClaimed as held:
            log.info("step_held_elsewhere", campaign=ref, step=step, detail=str(held))
            return None
        if claimed is not None:
            log.info("step_claimed", campaign=claimed.number, step=step, worker=worker)
        return claimed

    def curate(self, ref: str, *, actor: str = SYSTEM) -> RetrainCampaign:
        """Rule 4.3: write the dataset, record DatasetCurated; too few training items end the campaign at once.

        The dataset is curated once; recording it is retried on fresh state when another process changed the
        campaign meanwhile (the monitor attaching a breach): the work is kept and the step is not run again."""
        campaign = self.ledger.campaign(ref)
        version = self.ledger.version(campaign.version_id)
        now = self.clock.now()
        minimum = self.settings.curation.min_training_items
        dataset = self.curator.curate(
            campaign_id=str(campaign.id), version=version, version_ids=[str(version.id)],
            earlier_version_ids=self._ancestor_ids(version), since=self._last_used_dataset_time(), as_of=now,
            review_required=self.settings.review.required, minimum_train_items=minimum,
        )
        self.feedback.save_review_items(dataset.critical)

        def record() -> RetrainCampaign:
            fresh = self.ledger.campaign(ref)
            fresh.record_dataset(
                dataset_id=dataset.dataset_id, included=dataset.included, train_items=dataset.train_items,
                validation_items=dataset.validation_items, excluded=dataset.excluded,
                label_sources=dataset.label_sources, awaiting_review=[i.item for i in dataset.critical], actor=actor,
                timestamp=now, report_id=dataset.report_id,
            )
            if not enough_training_items(dataset.train_items, minimum=minimum):
                fresh.complete(outcome="insufficient_data", details={"train_items": dataset.train_items,
                                                                   "minimum": minimum}, actor=actor, timestamp=now)
            self.ledger.save(fresh)
            return fresh

        campaign = self.ledger.retrying(record)
        log.info("dataset_curated", campaign=campaign.number, dataset=dataset.dataset_id[:12],
                 included=dataset.included, excluded=dataset.excluded, awaiting_review=len(dataset.critical))
        return campaign

    def _ancestor_ids(self, version: ModelVersion) -> list[str]:
        ids, parent_id = [], version.parent_id
        while parent_id:
            parent = self.ledger.version(parent_id)
            ids.append(str(parent.id))
            parent_id = parent.parent_id
        return ids

    def _last_used_dataset_time(self) -> datetime | None:
        """When the last dataset that training consumed was curated."""
        times = [c.curated_at or c.opened_at for c in self.ledger.campaigns() if c.candidate is not None]
        return max(times) if times else None

    # -- review -------------------------------------------------------------------------------------
    def decided_items(self, campaign: RetrainCampaign) -> list[ReviewItem]:
        """The campaign's review items with their decisions: the items from the feedback store, the decisions from
        the campaign's events (their one source of truth)."""
        return [
            replace(i, decision=d["decision"], decided_label=d["label"], actor=d["actor"])
            if (d := campaign.review_decisions.get(i.item))
            else replace(i, decision=None, decided_label=None, actor=None)
            for i in self.feedback.review_items(str(campaign.id))
        ]

    def curation_items(self, ref: str) -> list[dict[str, Any]] | None:
        """`campaign show --items`: each feedback item's curation outcome and review decision."""
        campaign = self.ledger.campaign(ref)
        return curation_items((campaign.dataset or {}).get("report_id"), self.blobs, self.decided_items(campaign))

    def review_items(self, ref: str) -> list[dict[str, Any]]:
        return [
            {"item": i.item, "prediction_id": i.prediction_id, "label": i.decided_label or i.label,
             "label_source": i.label_source, "reasons": list(i.reasons), "decision": i.decision}
            for i in self.decided_items(self.ledger.campaign(ref))
        ]

    def decide(self, ref: str, item: str, *, approve: bool, label: str | None, actor: str) -> RetrainCampaign:
        """A reviewer's decision on one critical item (named by its item reference or its prediction id); the last
        one completes the review. The event is saved first; the feedback store's copy of the decision follows."""
        if label is not None and not approve:
            raise InvalidInput("a label goes with --approve, not --reject")
        decision = "approved" if approve else "rejected"

        def command() -> tuple[RetrainCampaign, str]:
            campaign = self.ledger.campaign(ref)
            known = {*campaign.pending_review, *campaign.review_decisions}
            named = item_reference(item) if item not in known and item_reference(item) in known else item
            if label is not None and label not in self.ledger.version(campaign.version_id).classes:
                raise InvalidInput(f"label {label!r} is not one of the version's classes")
            campaign.decide_review(item=named, decision=decision, label=label, actor=actor, timestamp=self.clock.now())
            campaign = self._complete_review_if_done(campaign, actor, save=False)
            self.ledger.save(campaign)
            return campaign, named

        campaign, named = self.ledger.retrying(command)
        self.feedback.decide_review_item(str(campaign.id), named, decision=decision, label=label, actor=actor)
        return campaign

    def _complete_review_if_done(self, campaign: RetrainCampaign, actor: str, save: bool = True) -> RetrainCampaign:
        """ReviewCompleted once nothing is pending; rejections that leave too few training items end the campaign."""
        if campaign.state not in ("open", "awaiting_review") or campaign.dataset is None:
            return campaign
        if campaign.pending_review or campaign.review_completed:
            return campaign
        now = self.clock.now()
        items = self.decided_items(campaign)
        final_id, train_items = None, int(campaign.dataset["train_items"])
        if items:
            final = apply_review(json.loads(self.blobs.get(campaign.dataset["dataset_id"])), items)
            final_id = store_manifest(self.blobs, final)
            train_items = sum(1 for entry in final["items"] if entry["split"] == "train")
        campaign.complete_review(auto=not items, dataset_id=final_id, actor=actor if items else SYSTEM, timestamp=now)
        minimum = self.settings.curation.min_training_items
        if not enough_training_items(train_items, minimum=minimum):
            campaign.complete(outcome="insufficient_data", details={"train_items": train_items, "minimum": minimum},
                              actor=actor, timestamp=now)
        if save:
            self.ledger.save(campaign)
        return campaign

    # -- rule 4.4 and 4.5 ---------------------------------------------------------------------------
    def decide_strategy(self, campaign: RetrainCampaign, forced: Strategy | None = None) -> StrategyDecision:
        version = self.ledger.version(campaign.version_id)
        policy = self.settings.strategy
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

    def _original(self, version: ModelVersion) -> tuple[str, dict[str, int]] | None:
        found = lineage_original(self.ledger, version)
        return (found[1], found[2]) if found else None

    def _original_training_items(self, version: ModelVersion) -> int:
        """The size of the original training set (0: the lineage has none)."""
        original = self._original(version)
        return int(original[1].get("train", 0)) if original else 0

    def original_dataset_id(self, version: ModelVersion) -> str | None:
        """The original dataset of the lineage (rehearsal, original validation and test sets), if it is known."""
        original = self._original(version)
        return original[0] if original else None

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

    def train(self, ref: str, *, actor: str = SYSTEM, forced: str | None = None) -> RetrainCampaign:
        """Choose the strategy (once), record TrainingStarted, train, then register the candidate or the failure.
        Each record is retried on fresh state when another process changed the campaign meanwhile."""
        if forced is not None and forced not in STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}")
        campaign, config = self.ledger.retrying(lambda: self._start_training(ref, actor, forced))
        if campaign.state == "completed":  # the review left too few training items
            return campaign
        parent, seed = self.ledger.version(campaign.version_id), self.settings.training.seed
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

    def _start_training(self, ref: str, actor: str, forced: str | None) -> tuple[RetrainCampaign, dict[str, Any]]:
        """TrainingStarted (with the strategy, chosen once) and its config, durable before the work starts: a crash
        leaves it retryable."""
        campaign = self._complete_review_if_done(self.ledger.campaign(ref), actor, save=False)
        if campaign.state == "completed":
            self.ledger.save(campaign)
            return campaign, {}
        now = self.clock.now()
        if campaign.strategy is None or forced:
            decision = self.decide_strategy(campaign, forced)  # type: ignore[arg-type]
            campaign.choose_strategy(strategy=decision.strategy, reasons=decision.reasons, forced=decision.forced,
                                     actor=actor, timestamp=now)
        parent = self.ledger.version(campaign.version_id)
        config = {**training_config(self.settings.training, campaign.strategy or "fine_tune"),
                  "original_dataset_id": self.original_dataset_id(parent)}
        campaign.start_training(config=config, seed=self.settings.training.seed, actor=actor, timestamp=now)
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

    def retry(self, ref: str, *, actor: str, forced: str | None = None) -> RetrainCampaign:
        """Start a failed (or interrupted) training again, optionally with a strategy the operator forces.

        A training that a worker is still running (its claim is live) is refused rather than started twice."""
        campaign = self.ledger.campaign(ref)
        if campaign.state not in ("training", "failed"):
            raise IllegalTransition(self._not_retryable(campaign))
        if forced == "full":
            self.decide_strategy(campaign, "full")  # refused before anything is claimed or recorded
        worker = worker_name("cli")
        holder = campaign.claim_holder("train", self.clock.now())
        if holder is not None and holder != worker and not worker_gone(holder):
            raise StepAlreadyClaimed(f"campaign {campaign.number} is being trained by {holder}; retry it once that "
                                     "worker is gone or its claim has lapsed")
        if self.claim(ref, "train", worker, lambda c: c.state in ("training", "failed")) is None:
            raise StepAlreadyClaimed(f"campaign {campaign.number} is being trained by another worker")
        campaign = self._retry_training(ref, actor=actor, forced=forced)
        if campaign.state == "validating" and self.claim(ref, "validate", worker, lambda c: c.state == "validating"):
            return self.validate(ref, actor=actor)
        return campaign

    def _not_retryable(self, campaign: RetrainCampaign) -> str:
        version = self.ledger.version(campaign.version_id)
        return not_retryable(campaign, version,
                             reopening(self.ledger, version, self.clock.now(), self.settings.campaigns.cooldown))

    def _retry_training(self, ref: str, *, actor: str, forced: str | None) -> RetrainCampaign:
        if self.ledger.campaign(ref).state == "training":  # interrupted: the process died mid-training
            self.ledger.retrying(lambda: self._fail_training(ref, "interrupted: training did not finish", actor))
        return self.train(ref, actor=actor, forced=forced)

    # -- rule 4.6 -----------------------------------------------------------------------------------
    def validate(self, ref: str, *, actor: str = SYSTEM) -> RetrainCampaign:
        """Rule 4.6: measure parent and candidate once, then record the verdict (retried on fresh state when another
        process changed the campaign meanwhile); a validated candidate starts its rollout."""
        campaign = self.ledger.campaign(ref)
        if campaign.state != "validating" or campaign.candidate is None:
            raise IllegalTransition(f"campaign {campaign.number} has no candidate to validate")
        parent = self.ledger.version(campaign.version_id)
        candidate = self.ledger.version(campaign.candidate["id"])
        comparison = self.evaluator.compare(model_ref(parent), model_ref(candidate), campaign.training_dataset_id or "",
                                            self.original_dataset_id(parent))
        gates = judge_gates(comparison, self.settings.validation, parent=parent.label, candidate=candidate.label)
        figures = {"parent": asdict(comparison.parent), "candidate": asdict(comparison.candidate),
                   "per_image_type": comparison.per_image_type, "measured_on": comparison.measured_on,
                   "paired": comparison.paired}
        failed = [g["name"] for g in gates if not g["passed"]]

        def judge() -> RetrainCampaign:
            fresh, judged = self.ledger.campaign(ref), self.ledger.version(str(candidate.id))
            now = self.clock.now()
            if failed:
                judged.reject(parent_id=str(parent.id), failed_gates=failed, gates=gates, figures=figures,
                              actor=actor, timestamp=now)
                fresh.complete(outcome="candidate_rejected", details={"candidate": judged.label, "failed": failed},
                               actor=actor, timestamp=now)
            else:
                judged.validate(parent_id=str(parent.id), gates=gates, figures=figures, actor=actor,
                                timestamp=now)
                fresh.complete(outcome="candidate_validated", details={"candidate": judged.label}, actor=actor,
                               timestamp=now)
            self.ledger.save(judged, fresh)
            return fresh

        campaign = self.ledger.retrying(judge)
        log.info("candidate_judged", campaign=campaign.number, candidate=candidate.label, failed=failed,
                 not_measurable=[g["name"] for g in gates if not measurable(g)])
        if not failed and self.settings.rollout.automatic and self.rollouts is not None:
            if self.ledger.active_rollout() is None and self.ledger.version(str(parent.id)).state == "production":
                self.rollouts.start(candidate.label, actor="system:rollout")
        return campaign


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

