"""Ingestion (SPEC section 2): validate prediction and feedback records, then write them atomically, idempotently."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from application.ledger import Ledger
from application.ports import BlobStore, Clock, FeedbackStore, FeedbackWriter
from application.records import StoredFeedback, StoredPrediction
from domain.errors import InvalidInput, NotFound

log = structlog.get_logger()
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_LISTED_ERRORS = 100
CHUNK = 5_000


class PredictionRecord(BaseModel):
    """A served prediction, optionally with its feedback inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction_id: str = Field(min_length=1, max_length=128)
    timestamp: AwareDatetime
    model_version: str = Field(min_length=1, max_length=64)
    predicted_label: str = Field(min_length=1, max_length=256)
    confidence: float | None = Field(None, ge=0, le=1)
    inference_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    status: Literal["ok", "error"] = "ok"
    image_type: str = Field("unknown", min_length=1, max_length=64)
    image: str | None = None
    user_ref: str | None = Field(None, max_length=128)
    user_feedback: Literal[0, 1] | None = None
    comment: str | None = Field(None, max_length=2000)
    corrected_label: str | None = Field(None, min_length=1, max_length=256)
    gdpr_consent: bool = False
    feedback_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _latency_when_ok(self) -> PredictionRecord:
        if self.status == "ok" and self.inference_ms is None:
            raise ValueError("inference_ms is required when status is ok")
        return self


class FeedbackRecord(BaseModel):
    """A user's answer to an earlier prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction_id: str = Field(min_length=1, max_length=128)
    user_feedback: Literal[0, 1] | None
    comment: str | None = Field(None, max_length=2000)
    corrected_label: str | None = Field(None, min_length=1, max_length=256)
    gdpr_consent: bool = False
    timestamp: AwareDatetime | None = None


@dataclass(frozen=True)
class RecordError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}" if self.field else f"line {self.line}: {self.reason}"


@dataclass
class IngestReport:
    predictions: int = 0
    feedback: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    rejected_lines: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": {"predictions": self.predictions, "feedback": self.feedback},
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "field": e.field, "reason": e.reason} for e in self.errors[:MAX_LISTED_ERRORS]],
        }


class BatchRejected(InvalidInput):
    """An atomic batch had invalid records: nothing was written."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        first = report.errors[0] if report.errors else "invalid records"
        super().__init__(f"{report.rejected} invalid record(s), nothing was written; first: {first}")


class Ingestion:
    """Validates every record; writes a batch all at once (or, with skip_invalid, the valid records)."""

    def __init__(self, *, ledger: Ledger, feedback: FeedbackStore, blobs: BlobStore, clock: Clock) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.clock = clock
        self._versions: dict[str, tuple[str, frozenset[str]]] = {}

    def ingest(
        self, lines: Iterable[str], *, skip_invalid: bool = False, progress: Callable[[int], None] | None = None
    ) -> IngestReport:
        report = IngestReport()
        with self.feedback.writer() as writer:
            batch = _Batch(self, writer, report, skip_invalid)
            for chunk in _chunks(enumerate(lines, start=1), CHUNK):
                batch.process(chunk)
                if progress:
                    progress(len(chunk))
            if report.errors and not skip_invalid:
                raise BatchRejected(report)
        log.info("ingested", predictions=report.predictions, feedback=report.feedback, duplicates=report.duplicates,
                 rejected=report.rejected)
        return report

    def version(self, ref: str) -> tuple[str, frozenset[str]] | None:
        """A version's id and classes, by label or id, cached for the batch."""
        if ref not in self._versions:
            try:
                version = self.ledger.version(ref)
            except NotFound:
                return None
            self._versions[ref] = (str(version.id), frozenset(version.classes))
        return self._versions[ref]


class _Batch:
    """The state of one ingest: what the file itself has already defined, and what is written."""

    def __init__(self, ingestion: Ingestion, writer: FeedbackWriter, report: IngestReport, skip_invalid: bool) -> None:
        self.ingestion = ingestion
        self.writer = writer
        self.report = report
        self.skip_invalid = skip_invalid
        self.seen: dict[str, tuple[int, str]] = {}  # prediction id -> (line, fingerprint) defined by this file
        self.seen_feedback: set[tuple[str, str]] = set()

    def reject(self, line: int, text: str, field_name: str, reason: str) -> None:
        self.report.rejected += 1
        if len(self.report.errors) < MAX_LISTED_ERRORS or self.skip_invalid:
            self.report.errors.append(RecordError(line, field_name, reason))
        self.report.rejected_lines.append(text)

    def process(self, chunk: list[tuple[int, str]]) -> None:
        parsed: list[tuple[int, str, PredictionRecord | FeedbackRecord]] = []
        for line, text in chunk:
            if not text.strip():
                continue
            record = self.parse(line, text)
            if record is not None:
                parsed.append((line, text, record))
        ids = list({r.prediction_id for _, _, r in parsed})
        known = self.writer.known(ids)
        known_feedback = self.writer.feedback_fingerprints(ids)
        new_predictions: list[StoredPrediction] = []
        new_feedback: list[StoredFeedback] = []
        for line, text, record in parsed:
            if isinstance(record, PredictionRecord):
                self.prediction(line, text, record, known, known_feedback, new_predictions, new_feedback)
            else:
                self.answer(line, text, record, known, known_feedback, new_feedback)
        if self.skip_invalid or not self.report.errors:
            self.writer.add(new_predictions, new_feedback)

    def parse(self, line: int, text: str) -> PredictionRecord | FeedbackRecord | None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            self.reject(line, text, "", f"malformed JSON ({error.msg})")
            return None
        if not isinstance(data, dict):
            self.reject(line, text, "", "a record must be a JSON object")
            return None
        model = PredictionRecord if "model_version" in data else FeedbackRecord
        try:
            return model.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or model.__name__
            self.reject(line, text, where, first["msg"])
            return None

    def prediction(self, line: int, text: str, record: PredictionRecord, known: dict, known_feedback: set,
                   new_predictions: list[StoredPrediction], new_feedback: list[StoredFeedback]) -> None:
        version = self.ingestion.version(record.model_version)
        if version is None:
            return self.reject(line, text, "model_version", f"unknown model version {record.model_version!r}")
        version_id, classes = version
        if record.predicted_label not in classes:
            return self.reject(line, text, "predicted_label", f"{record.predicted_label!r} is not a class of the version")
        image_sha = None
        if record.image is not None:
            image = _decode_image(record.image)
            if isinstance(image, str):
                return self.reject(line, text, "image", image)
            image_sha = hashlib.sha256(image).hexdigest()
        fingerprint = _fingerprint(record.model_dump(exclude={"image"}), image_sha, version_id)
        earlier = known.get(record.prediction_id) or (
            self.seen.get(record.prediction_id) and _Known(self.seen[record.prediction_id][1]))
        if earlier is not None:
            if earlier.fingerprint == fingerprint:
                self.report.duplicates += 1
                return None
            where = f" (line {self.seen[record.prediction_id][0]})" if record.prediction_id in self.seen else ""
            return self.reject(line, text, "prediction_id",
                               f"{record.prediction_id!r} already exists{where} with different content")
        if record.image is not None:
            self.ingestion.blobs.put(image)  # content-addressed: a rolled-back batch leaves only an unreferenced blob
        self.seen[record.prediction_id] = (line, fingerprint)
        moment = record.timestamp.astimezone(UTC)
        new_predictions.append(StoredPrediction(
            record.prediction_id, version_id, moment, record.predicted_label, record.inference_ms, record.status,
            record.confidence, record.image_type, image_sha, record.user_ref, fingerprint,
        ))
        self.report.predictions += 1
        if record.user_feedback is not None or record.comment or record.corrected_label:
            given = (record.feedback_at or record.timestamp).astimezone(UTC)
            answer = _stored_feedback(record.prediction_id, record.user_feedback, given, record.comment,
                                      record.corrected_label, record.gdpr_consent)
            self.seen_feedback.add((answer.prediction_id, answer.fingerprint))
            new_feedback.append(answer)
            self.report.feedback += 1
        return None

    def answer(self, line: int, text: str, record: FeedbackRecord, known: dict, known_feedback: set,
               new_feedback: list[StoredFeedback]) -> None:
        if record.prediction_id not in known and record.prediction_id not in self.seen:
            return self.reject(line, text, "prediction_id", f"feedback for unknown prediction {record.prediction_id!r}")
        given = record.timestamp or self.ingestion.clock.now()  # no timestamp: received now
        answer = _stored_feedback(record.prediction_id, record.user_feedback, given.astimezone(UTC),
                                  record.comment, record.corrected_label, record.gdpr_consent)
        key = (answer.prediction_id, answer.fingerprint)
        if key in known_feedback or key in self.seen_feedback:
            self.report.duplicates += 1
            return None
        self.seen_feedback.add(key)
        new_feedback.append(answer)
        self.report.feedback += 1
        return None


@dataclass(frozen=True)
class _Known:
    fingerprint: str


def _decode_image(text: str) -> bytes | str:
    if len(text) > math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 4:
        return "image is larger than 5 MB"
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "image is not valid base64"
    if len(data) > MAX_IMAGE_BYTES:
        return "image is larger than 5 MB"
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8")):
        return "image is neither PNG nor JPEG"
    return data


def _fingerprint(fields: dict[str, Any], image_sha: str | None, version_id: str) -> str:
    canonical = {**fields, "image": image_sha, "model_version": version_id}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _stored_feedback(prediction_id: str, value: int | None, given: Any, comment: str | None, label: str | None,
                     consent: bool) -> StoredFeedback:
    content = json.dumps([prediction_id, value, given.isoformat(), comment, label, consent])
    return StoredFeedback(prediction_id, value, given, comment, label, consent,
                          hashlib.sha256(content.encode()).hexdigest())


def _chunks(items: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
