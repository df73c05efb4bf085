"""Serving (rule 4.7): each request goes to the version that serves it, is classified, and is logged before it is
acknowledged. The routing table is cached and rebuilt only when the event log has moved."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from application.ledger import Ledger
from application.models import model_ref
from application.ports import Clock, ImageDecodeError, ModelRef, PredictionLog, Predictor
from application.record_validation import image_problem, prediction_fingerprint
from application.records import PredictionBatch, StoredPrediction
from domain.errors import IllegalTransition, InvalidInput
from domain.rules.routing import bucket, routing_key, serves_candidate

log = structlog.get_logger()


class RequestRejected(InvalidInput):
    """One request of a batch cannot be served: which one (0-based), which field, and why; nothing was logged."""

    def __init__(self, index: int, field: str, reason: str) -> None:
        super().__init__(f"request {index}: {field}: {reason}")
        self.index, self.field, self.reason = index, field, reason


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
        """Classify every request (all are checked first: one bad request refuses the batch), then log them all.

        Each image gets a forward pass of its own, so its inference_ms is what one request costs whichever version
        serves it: in one shared pass, the version that gets few of the file's images (a 10% candidate) would carry
        more of the pass's fixed cost per image and look slower than the stable version to the rollout's latency
        check."""
        served, batch = self.classify(requests, one_at_a_time=True)
        self.log.write(batch)
        return served

    def _decodes(self, image: bytes, ref: ModelRef) -> bool:
        try:
            self.predictor.check_image(image, ref.input_spec)
        except ImageDecodeError:
            return False
        return True

    def classify(self, requests: Sequence[PredictRequest], *,
                 one_at_a_time: bool = False) -> tuple[list[Served], PredictionBatch]:
        """Each request routed and classified, with the row (and image) that logs it; nothing is written. One
        forward pass per version, or per request with `one_at_a_time`."""
        for index, request in enumerate(requests):
            problem = request.problem()
            if problem is not None:
                raise RequestRejected(index, problem[0], problem[1])
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
                images = [requests[i].image for i in indexes]
                predictions = ([p for image in images for p in self.predictor.predict(ref, [image])] if one_at_a_time
                               else self.predictor.predict(ref, images))
            except ImageDecodeError as error:
                bad = next((i for i in indexes if not self._decodes(requests[i].image, ref)), indexes[0])
                raise RequestRejected(bad, "image", str(error)) from None
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


def serve_batch(serving: Serving, requests: Sequence[PredictRequest]) -> list[Served | Exception]:
    """Requests that arrived together: one forward pass per version, one transaction for all their rows (the
    server's group commit). Each gets its answer once committed, or its own error: an image that does not decode
    fails only its request; a failed commit fails them all, and none is acknowledged."""
    try:
        served, logged = serving.classify(requests)
    except InvalidInput as error:
        if len(requests) == 1:
            return [error]
        return [outcome for request in requests for outcome in serve_batch(serving, [request])]
    except Exception as error:  # e.g. no version in production: every request is told
        return [error] * len(requests)
    try:
        serving.log.write(logged)
    except Exception as error:  # nothing is acknowledged
        log.error("prediction_log_failed", requests=len(requests), error=type(error).__name__)
        return [error] * len(requests)
    return list(served)
