"""Campaigns (rules 4.2 and 4.3): open or join one on a breach, curate its dataset, then drive it through the review
(application/review), the training (application/training) and the validation (application/candidate_validation)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError

from application.campaign_cooldown import not_retryable, reopening, still_open_breaches
from application.campaign_views import curation_items
from application.candidate_validation import CandidateValidation
from application.curation import Curator
from application.ledger import Ledger
from application.ports import BlobStore, Clock, ReviewQueue
from application.review import SYSTEM, Review
from application.settings import Settings
from application.training import Training
from domain.errors import CampaignAlreadyOpen, IllegalTransition, InvalidInput, StepAlreadyClaimed
from domain.model_version import ModelVersion
from domain.payloads import CooldownRef
from domain.retrain_campaign import RetrainCampaign
from domain.rules.campaigns import campaign_action_for_breach
from domain.rules.curation import enough_training_items

log = structlog.get_logger()
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


class Campaigns:
    """Drives each campaign through the procedure, one recorded decision at a time."""

    def __init__(
        self, *, ledger: Ledger, feedback: ReviewQueue, blobs: BlobStore, curator: Curator, clock: Clock,
        settings: Settings, review: Review, training: Training, validation: CandidateValidation,
    ) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.curator = curator
        self.clock = clock
        self.settings = settings
        self.review = review
        self.training = training
        self.validation = validation

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
            campaign = self.ledger.retrying(lambda: self.review.complete_if_done(self.ledger.campaign(ref), actor))
        if campaign.state == "open" and campaign.review_completed:
            if self.claim(ref, "train", worker, lambda c: c.state == "open" and c.review_completed) is None:
                return campaign
            campaign = self.training.train(ref, actor=actor)
        elif campaign.state == "training" and self._abandoned_training(campaign):
            if self.claim(ref, "train", worker, lambda c: c.state == "training") is None:
                return campaign
            log.warning("training_interrupted", campaign=campaign.number, worker=worker)
            campaign = self.training.restart(ref, actor=actor, forced=None)
        if campaign.state == "validating":
            if self.claim(ref, "validate", worker, lambda c: c.state == "validating") is None:
                return campaign
            campaign = self.validation.validate(ref, actor=actor)
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

    # -- the curation report ------------------------------------------------------------------------
    def curation_items(self, ref: str) -> list[dict[str, Any]] | None:
        """`campaign show --items`: each feedback item's curation outcome and review decision."""
        campaign = self.ledger.campaign(ref)
        decided = self.review.decided_items(campaign)
        return curation_items((campaign.dataset or {}).get("report_id"), self.blobs, decided)

    # -- an operator's retry ------------------------------------------------------------------------
    def retry(self, ref: str, *, actor: str, forced: str | None = None) -> RetrainCampaign:
        """Start a failed (or interrupted) training again, optionally with a strategy the operator forces.

        A training that a worker is still running (its claim is live) is refused rather than started twice."""
        campaign = self.ledger.campaign(ref)
        if campaign.state not in ("training", "failed"):
            raise IllegalTransition(self._not_retryable(campaign))
        if forced == "full":
            self.training.decide_strategy(campaign, "full")  # refused before anything is claimed or recorded
        worker = worker_name("cli")
        holder = campaign.claim_holder("train", self.clock.now())
        if holder is not None and holder != worker and not worker_gone(holder):
            raise StepAlreadyClaimed(f"campaign {campaign.number} is being trained by {holder}; retry it once that "
                                     "worker is gone or its claim has lapsed")
        if self.claim(ref, "train", worker, lambda c: c.state in ("training", "failed")) is None:
            raise StepAlreadyClaimed(f"campaign {campaign.number} is being trained by another worker")
        campaign = self.training.restart(ref, actor=actor, forced=forced)
        if campaign.state == "validating" and self.claim(ref, "validate", worker, lambda c: c.state == "validating"):
            return self.validation.validate(ref, actor=actor)
        return campaign

    def _not_retryable(self, campaign: RetrainCampaign) -> str:
        version = self.ledger.version(campaign.version_id)
        return not_retryable(campaign, version,
                             reopening(self.ledger, version, self.clock.now(), self.settings.campaigns.cooldown))
