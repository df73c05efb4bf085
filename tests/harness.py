"""Builds the application over in-memory adapters, with a simulated clock, for unit and feature tests."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.clock import SimulatedClock
from adapters.ingestion_pool import ProcessParsingPool
from application.ledger import Ledger
from application.ports import BlobStore, FeedbackStore, Predictor
from application.records import StoredFeedback, StoredPrediction
from application.retrain import Retrain
from application.settings import Settings
from domain.model_version import ModelVersion
from tests.fakes import FakeEvaluator, FakePredictor, FakeTrainer, InMemoryBlobStore, InMemoryFeedbackStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DIGITS = [str(d) for d in range(10)]


@dataclass
class Harness:
    """The application and its fakes, plus helpers that write traffic the way ingestion would."""

    app: Retrain
    clock: SimulatedClock
    feedback: FeedbackStore
    blobs: BlobStore
    trainer: FakeTrainer
    evaluator: FakeEvaluator
    predictor: Predictor
    serial: int = 0

    def register(self, *, production: bool = True, baseline_ms: float | None = 10.0, train_items: int = 1000,
                 classes: list[str] | None = None, originals: bool = True) -> ModelVersion:
        """A version as a team registers it: with its original dataset (`train_items` training items, and the
        validation and test items the fake evaluator measures on), unless `originals` is False."""
        training: dict[str, Any] = {"metrics": {"train_items": train_items}}
        if originals:
            sizes = {"train": train_items, **self.evaluator.original_items}
            dataset_id = self.original_dataset(sizes)
            training |= {"dataset_id": dataset_id, "config": {"original_dataset_id": dataset_id,
                                                              "original_sizes": sizes}}
        return self.app.models.register(
            weights=b"weights-%d" % self.serial, architecture="digits-cnn", classes=classes or DIGITS,
            input_spec={"size": 8}, baseline_ms=baseline_ms, production=production, actor="user:test",
            training=training,
        )

    def original_dataset(self, sizes: dict[str, int]) -> str:
        """Stores an original dataset of these split sizes and returns its id (all the fakes read of it)."""
        return self.blobs.put(json.dumps({"kind": "original", "sizes": sizes}, sort_keys=True).encode())

    def next_id(self) -> str:
        self.serial += 1
        return f"p{self.serial:07d}"

    def serve(
        self, version: str, count: int, *, satisfied: int | None = None, image_type: str = "unknown",
        inference_ms: float = 10.0, errors: int = 0, at: datetime | None = None, comment: str | None = None,
        user_ref: str | None = None, feedback_delay: timedelta = timedelta(0),
    ) -> list[str]:
        """`count` predictions by `version`; the first `satisfied` rated 1, the rest rated 0 (None: unrated)."""
        version_id = str(self.app.ledger.version(version).id)
        moment = at or self.clock.now()
        predictions, answers, ids = [], [], []
        for index in range(count):
            pid = self.next_id()
            ids.append(pid)
            failed = index < errors
            predictions.append(StoredPrediction(
                pid, version_id, moment, "0", None if failed else inference_ms, "error" if failed else "ok",
                0.9, image_type, None, user_ref,
            ))
            if satisfied is not None:
                answers.append(StoredFeedback(pid, 1 if index < satisfied else 0, moment + feedback_delay,
                                              comment if index >= satisfied else None))
        self.feedback.add(predictions, answers)
        return ids


def png(seed: int, size: int = 8) -> bytes:
    """A small random grey PNG: distinct per seed, never constant."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("L", (size, size))
    image.putdata([rng.randrange(256) for _ in range(size * size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build_harness(start: datetime = T0, *, feedback: FeedbackStore | None = None, blobs: BlobStore | None = None,
                  predictor: Predictor | None = None, ledger: Ledger | None = None, **settings: Any) -> Harness:
    """In-memory adapters throughout, unless a real ledger (event store and views), feedback store, blob store or
    predictor is given."""
    clock = SimulatedClock(start)
    feedback, blobs = feedback or InMemoryFeedbackStore(), blobs or InMemoryBlobStore()
    trainer, evaluator, predictor = FakeTrainer(blobs), FakeEvaluator(), predictor or FakePredictor()
    ledger = ledger or Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = Retrain(
        settings=Settings(**settings), ledger=ledger, feedback=feedback, blobs=blobs, trainer=trainer,
        evaluator=evaluator, predictor=predictor, clock=clock, parsing_pool=ProcessParsingPool(),
    )
    return Harness(app, clock, feedback, blobs, trainer, evaluator, predictor)


def sql_ledger(event_store_url: str, feedback: Any) -> Ledger:
    """A ledger on a real event store (SQLite file or PostgreSQL), its views in the SQL feedback store's database."""
    from adapters.sql.view_store import SqlViewStore
    from bootstrap import event_store_env

    return Ledger(env=event_store_env(event_store_url), views=SqlViewStore(feedback.engine))
