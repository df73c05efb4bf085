"""Serving (rule 4.7): each request goes to the version that serves it, is classified, and is logged before it is
acknowledged. The routing table is cached and rebuilt only when the event log has moved."""

from __future__ import annotations

import hashlib
import queue
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import structlog

from application.campaigns import model_ref
from application.ingestion import image_problem, prediction_fingerprint
from application.ledger import Ledger
from application.ports import Clock, ImageDecodeError, ModelRef, PredictionLog, Predictor
from application.records import PredictionBatch, StoredPrediction
from domain.errors import IllegalTransition, InvalidInput
from domain.rules.routing import bucket, routing_key, serves_candidate

log = structlog.get_logger()


@dataclass(frozen=True)
class PredictRequest:
    """One image to classify, with the user's pseudonymous reference (the routing key) and its segment."""

    image: bytes
    user_ref: str | None = None
    image_type: str = "unknown"

    def problem(self) -> tuple[str, str] | None:
        """The first invalid field and why (SPEC section 2's limits), or None."""
        if self.user_ref is not None and not 1 <= len(self.user_ref) <= 128:
            return "user_ref", "user_ref must have 1 to 128 characters"
        if not 1 <= len(self.image_type) <= 64:
            return "image_type", "image_type must have 1 to 64 characters"
        problem = image_problem(self.image)
        return ("image", problem) if problem else None


@dataclass(frozen=True)
class Served:
    """A logged prediction, in the `retrain predict --json` shape."""

    prediction_id: str
    label: str
    confidence: float
    model_version: str
    inference_ms: float
    user_ref: str | None
    image_type: str

    def as_json(self) -> dict[str, Any]:
        return {"prediction_id": self.prediction_id, "label": self.label, "confidence": self.confidence,
                "model_version": self.model_version, "inference_ms": self.inference_ms, "user_ref": self.user_ref,
                "image_type": self.image_type}


@dataclass(frozen=True)
class RoutingTable:
    """Who serves what, as of one position of the event log: production, or a rollout's stable and candidate."""

    position: int
    production: ModelRef | None
    rollout_id: str | None = None
    stable: ModelRef | None = None
    candidate: ModelRef | None = None
    percent: float = 0.0

    def version_for(self, user_ref: str | None, prediction_id: str) -> ModelRef:
        """Rule 4.7: the candidate iff the request's bucket is below the phase's percent; a user stays put."""
        if self.rollout_id is not None and self.stable is not None and self.candidate is not None:
            key = routing_key(user_ref, prediction_id)
            return self.candidate if serves_candidate(bucket(self.rollout_id, key), self.percent) else self.stable
        if self.production is None:
            raise IllegalTransition("no version is in production: run `retrain init` or `retrain model register` first")
        return self.production


class Router:
    """The routing table, cached: a cheap look at the event log's last position says whether to rebuild it."""

    def __init__(self, *, ledger: Ledger) -> None:
        self.ledger = ledger
        self._table: RoutingTable | None = None
        self._lock = threading.Lock()

    def table(self) -> RoutingTable:
        position = self.ledger.recorder.max_notification_id() or 0
        table = self._table
        if table is not None and table.position == position:
            return table
        with self._lock:
            if self._table is None or self._table.position != position:
                self._table = self._build(position)
                log.info("routing_table_loaded", position=position, percent=self._table.percent,
                         production=self._table.production.label if self._table.production else None)
            return self._table

    def _build(self, position: int) -> RoutingTable:
        production = self.ledger.production()
        production_ref = model_ref(production) if production is not None else None
        rollout = self.ledger.active_rollout()
        if rollout is None or rollout.state != "active":  # a paused rollout: the stable version serves everyone
            return RoutingTable(position, production_ref)
        stable = model_ref(self.ledger.version(rollout.stable_id))
        candidate = model_ref(self.ledger.version(rollout.candidate_id))
        return RoutingTable(position, production_ref, str(rollout.id), stable, candidate, float(rollout.percent))


class Serving:
    """Routes, classifies and logs predictions; a prediction is acknowledged only once its row is committed."""

    def __init__(self, *, router: Router, predictor: Predictor, log: PredictionLog, clock: Clock) -> None:
        self.router = router
        self.predictor = predictor
        self.log = log
        self.clock = clock

    def warm_up(self) -> None:
        """Load every version the routing table serves, so the first request does not pay for it."""
        table = self.router.table()
        for ref in {r.version_id: r for r in (table.production, table.stable, table.candidate) if r}.values():
            self.predictor.predict(ref, [])

    def predict(self, requests: Sequence[PredictRequest]) -> list[Served]:
        """Classify every request (all are checked first: one bad request refuses the batch), then log them all."""
        served, batch = self.classify(requests)
        self.log.write(batch)
        return served

    def _decodes(self, image: bytes, ref: ModelRef) -> bool:
        try:
            self.predictor.check_image(image, ref.input_spec)
        except ImageDecodeError:
            return False
        return True

    def classify(self, requests: Sequence[PredictRequest]) -> tuple[list[Served], PredictionBatch]:
        """Each request routed and classified, with the row (and image) that logs it; nothing is written."""
        for index, request in enumerate(requests):
            problem = request.problem()
            if problem is not None:
                raise InvalidInput(f"request {index}: {problem[0]}: {problem[1]}")
        table = self.router.table()
        now = self.clock.now()
        ids = [uuid.uuid4().hex for _ in requests]
        refs: dict[str, ModelRef] = {}
        by_version: dict[str, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            ref = table.version_for(request.user_ref, ids[index])
            refs[ref.version_id] = ref
            by_version[ref.version_id].append(index)
        results: list[tuple[Served, StoredPrediction] | None] = [None] * len(requests)
        for version_id, indexes in by_version.items():
            ref = refs[version_id]
            try:
                predictions = self.predictor.predict(ref, [requests[i].image for i in indexes])
            except ImageDecodeError as error:
                bad = next((i for i in indexes if not self._decodes(requests[i].image, ref)), indexes[0])
                raise InvalidInput(f"request {bad}: image: {error}") from None
            for index, prediction in zip(indexes, predictions, strict=True):
                request = requests[index]
                image_sha = hashlib.sha256(request.image).hexdigest()  # stored by the log before the row
                record = {"prediction_id": ids[index], "predicted_label": prediction.label,
                          "confidence": prediction.confidence, "inference_ms": prediction.inference_ms,
                          "image_type": request.image_type, "user_ref": request.user_ref}
                row = StoredPrediction(
                    ids[index], ref.version_id, now, prediction.label, prediction.inference_ms, "ok",
                    prediction.confidence, request.image_type, image_sha, request.user_ref,
                    prediction_fingerprint(record, now, image_sha, ref.version_id),
                )
                results[index] = (Served(ids[index], prediction.label, prediction.confidence, ref.label,
                                         prediction.inference_ms, request.user_ref, request.image_type), row)
        pairs = [pair for pair in results if pair is not None]
        return [pair[0] for pair in pairs], PredictionBatch([pair[1] for pair in pairs], [r.image for r in requests])


class BatchedServing:
    """Concurrent requests classified together (a server's path): one thread takes whatever has arrived, up to
    `max_batch`, classifies it with one forward pass per version, and hands all its rows to the prediction log in
    one go. Each request gets its answer and the future of its commit; it is acknowledged once that completes."""

    def __init__(self, serving: Serving, *, max_batch: int = 64) -> None:
        self.serving = serving
        self.max_batch = max_batch
        self._pending: queue.Queue[tuple[PredictRequest, Future[Batched]] | None] = queue.Queue()
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    def submit(self, request: PredictRequest) -> Future[Batched]:
        """Invalid requests are refused at once (InvalidInput); the others are classified in the next batch."""
        problem = request.problem()
        if problem is not None:
            raise InvalidInput(f"{problem[0]}: {problem[1]}")
        future: Future[Batched] = Future()
        with self._closing:
            if self._closed:
                future.set_exception(RuntimeError("the server is shutting down"))
            else:
                self._pending.put((request, future))
        return future

    def close(self) -> None:
        """Classify and log what is pending, then stop; later requests are refused."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._pending.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._answer(batch)
                    return
                batch.append(item)
            self._answer(batch)

    def _answer(self, batch: list[tuple[PredictRequest, Future[Batched]]]) -> None:
        try:
            served, logged = self.serving.classify([request for request, _ in batch])
        except InvalidInput:  # one image does not decode: classify each alone, so only that request fails
            for one in batch:
                self._answer_alone(*one)
            return
        except Exception as error:  # e.g. no version in production: every request of the batch is told
            for _, future in batch:
                future.set_exception(error)
            return
        committed = self.serving.log.submit(logged)
        for (_, future), answer in zip(batch, served, strict=True):
            future.set_result(Batched(answer, committed))

    def _answer_alone(self, request: PredictRequest, future: Future[Batched]) -> None:
        try:
            served, logged = self.serving.classify([request])
        except Exception as error:  # noqa: BLE001 - this request's own failure, told to its caller
            future.set_exception(error)
            return
        future.set_result(Batched(served[0], self.serving.log.submit(logged)))


@dataclass(frozen=True)
class Batched:
    """A classified request, and the commit that acknowledges it."""

    served: Served
    committed: Future[None]
