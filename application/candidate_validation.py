"""Rule 4.6 as a use case: a campaign's candidate measured against its parent, the gates' verdict recorded on the
candidate and the campaign, and a validated candidate's rollout started (the gates are in application/validation)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import structlog

from application.ledger import Ledger
from application.models import model_ref, original_dataset_id
from application.ports import Clock, Evaluator
from application.validation import judge_gates
from domain.errors import IllegalTransition
from domain.policy import RolloutPolicy, ValidationPolicy
from domain.retrain_campaign import RetrainCampaign
from domain.rules.validation_gates import measurable

if TYPE_CHECKING:
    from application.rollouts import Rollouts

log = structlog.get_logger()


class CandidateValidation:
    """Judges a campaign's candidate, which ends the campaign either way."""

    def __init__(self, *, ledger: Ledger, evaluator: Evaluator, clock: Clock, policy: ValidationPolicy,
                 rollout: RolloutPolicy, rollouts: Rollouts | None = None) -> None:
        self.ledger = ledger
        self.evaluator = evaluator
        self.clock = clock
        self.policy = policy
        self.rollout = rollout
        self.rollouts = rollouts  # a validated candidate starts its rollout (automatic by default)

    def validate(self, ref: str, *, actor: str) -> RetrainCampaign:
        """Rule 4.6: measure parent and candidate once, then record the verdict (retried on fresh state when another
        process changed the campaign meanwhile); a validated candidate starts its rollout."""
        campaign = self.ledger.campaign(ref)
        if campaign.state != "validating" or campaign.candidate is None:
            raise IllegalTransition(f"campaign {campaign.number} has no candidate to validate")
        parent = self.ledger.version(campaign.version_id)
        candidate = self.ledger.version(campaign.candidate["id"])
        comparison = self.evaluator.compare(model_ref(parent), model_ref(candidate), campaign.training_dataset_id or "",
                                            original_dataset_id(self.ledger, parent))
        gates = judge_gates(comparison, self.policy, parent=parent.label, candidate=candidate.label)
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
        if not failed and self.rollout.automatic and self.rollouts is not None:
            if self.ledger.active_rollout() is None and self.ledger.version(str(parent.id)).state == "production":
                self.rollouts.start(candidate.label, actor="system:rollout")
        return campaign
