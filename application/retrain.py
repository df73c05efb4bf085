"""The application's use cases wired together over the ports (the composition root supplies the adapters)."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.audit import Audit
from application.campaigns import Campaigns
from application.candidate_validation import CandidateValidation
from application.console import Console
from application.curation import Curator
from application.decisions import Decision, decisions_after
from application.erasure import Forget
from application.ingestion import Ingestion
from application.ledger import Ledger
from application.models import ModelRegistry
from application.monitoring import Monitoring, VersionReport
from application.ports import (
    BlobStore,
    Clock,
    Evaluator,
    FeedbackStore,
    ParsingPool,
    PredictionLog,
    Predictor,
    Trainer,
)
from application.prediction_log import DirectLog
from application.record_validation import ImageCheck
from application.review import Review
from application.rollouts import Rollouts
from application.serving import Router, Serving
from application.settings import Settings
from application.training import Training


@dataclass
class TickReport:
    monitor: list[VersionReport]
    decisions: list[Decision] = field(default_factory=list)  # what the pass recorded, one per decision


class Retrain:
    """Every use case of the procedure, sharing one ledger, one feedback store and one clock."""

    def __init__(
        self, *, settings: Settings, ledger: Ledger, feedback: FeedbackStore, blobs: BlobStore, trainer: Trainer,
        evaluator: Evaluator, predictor: Predictor, clock: Clock, models: ModelRegistry | None = None,
        audit: Audit | None = None, prediction_log: PredictionLog | None = None, image_check: ImageCheck | None = None,
        parsing_pool: ParsingPool | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.predictor = predictor
        self.clock = clock
        curator = Curator(feedback=feedback, blobs=blobs, predictor=predictor, policy=settings.curation)
        self.rollouts = Rollouts(ledger=ledger, feedback=feedback, clock=clock, policy=settings.rollout)
        self.review = Review(ledger=ledger, feedback=feedback, blobs=blobs, clock=clock, policy=settings.curation)
        self.training = Training(ledger=ledger, trainer=trainer, review=self.review, clock=clock,
                                 policy=settings.strategy, settings=settings.training)
        self.validation = CandidateValidation(ledger=ledger, evaluator=evaluator, clock=clock,
                                              policy=settings.validation, rollout=settings.rollout,
                                              rollouts=self.rollouts)
        self.campaigns = Campaigns(
            ledger=ledger, feedback=feedback, blobs=blobs, curator=curator, clock=clock, settings=settings,
            review=self.review, training=self.training, validation=self.validation,
        )
        self.monitoring = Monitoring(
            ledger=ledger, feedback=feedback, clock=clock, policy=settings.triggers, campaigns=self.campaigns
        )
        self.models = models or ModelRegistry(ledger=ledger, blobs=blobs, predictor=predictor, clock=clock)
        self.audit = audit or Audit(ledger=ledger)
        self.ingestion = Ingestion(ledger=ledger, feedback=feedback, blobs=blobs, clock=clock, image_check=image_check,
                                   pool=parsing_pool)
        self.forget = Forget(ledger=ledger, feedback=feedback, blobs=blobs, clock=clock)
        self.router = Router(ledger=ledger)
        self.console = Console(ledger=ledger, feedback=feedback, reviews=self.review, rollouts=self.rollouts,
                               audit=self.audit, clock=clock, policy=settings.rollout)
        self.serving = Serving(router=self.router, predictor=predictor,
                               log=prediction_log or DirectLog(feedback, blobs), clock=clock)

    def tick(self, *, campaign_steps: bool = True) -> TickReport:
        """One pass of everything time-driven: monitor, campaign steps (unless workers run them), rollout phases; the
        report says what the pass decided, read back from the events recorded meanwhile (another process's
        decisions recorded during the pass included)."""
        start = self.ledger.position()
        monitor = self.monitoring.evaluate()
        if campaign_steps:
            self.campaigns.step_all()
        self.rollouts.step()
        return TickReport(monitor, decisions_after(self.ledger, start))
