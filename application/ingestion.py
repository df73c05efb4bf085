"""Ingestion (SPEC section 2): validate prediction and feedback records, then write them atomically, idempotently."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import math
import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Annotated, Any, Literal, NotRequired

import structlog
from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from application.corrections import DatasetUse
from application.ledger import Ledger
from application.ports import BlobStore, Clock, FeedbackIntake, FeedbackWriter, RowEncoder
from application.record_decoding import decoded
from application.record_lines import MB, Block, OverlongLine, read_blocks, undecodable
from application.records import KnownPrediction, StoredFeedback, StoredPrediction
from domain.errors import InvalidInput

log = structlog.get_logger()
MAX_IMAGE_BYTES = 5 * MB
MAX_LISTED_ERRORS = 100
CHUNK = 5_000


Text128 = Annotated[str, Field(min_length=1, max_length=128)]
Label = Annotated[str, Field(min_length=1, max_length=256)]
Answer = Annotated[StrictInt, Field(ge=0, le=1)]  # 0 or 1: JSON true/false or 1.0 are refused, never read as 1


@with_config(ConfigDict(extra="forbid"))
class PredictionRecord(TypedDict):
    """A served prediction, optionally with its feedback inline (SPEC section 2)."""

    prediction_id: Text128
    timestamp: AwareDatetime
    model_version: Annotated[str, Field(min_length=1, max_length=64)]
    predicted_label: Label
    confidence: NotRequired[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None]
    inference_ms: NotRequired[Annotated[float, Field(ge=0, allow_inf_nan=False)] | None]
    status: NotRequired[Literal["ok", "error"]]
    image_type: NotRequired[Annotated[str, Field(min_length=1, max_length=64)]]
    image: NotRequired[str | None]
    user_ref: NotRequired[Annotated[str, Field(max_length=128)] | None]
    user_feedback: NotRequired[Answer | None]
    comment: NotRequired[Annotated[str, Field(max_length=2000)] | None]
    corrected_label: NotRequired[Label | None]
    gdpr_consent: NotRequired[StrictBool]
    feedback_at: NotRequired[AwareDatetime | None]


@with_config(ConfigDict(extra="forbid"))
class FeedbackRecord(TypedDict):
    """A user's answer to an earlier prediction."""

    prediction_id: Text128
    user_feedback: Answer | None
    comment: NotRequired[Annotated[str, Field(max_length=2000)] | None]
    corrected_label: NotRequired[Label | None]
    gdpr_consent: NotRequired[StrictBool]
    timestamp: NotRequired[AwareDatetime | None]


# Validation runs in pydantic-core: a TypedDict validates about three times faster than a model (bulk ingest).
PREDICTION = TypeAdapter(PredictionRecord)
FEEDBACK = TypeAdapter(FeedbackRecord)


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
    replaced: int = 0  # stored predictions re-written (`replace`), each with its own answers
    errors: list[RecordError] = field(default_factory=list)
    predictions_by_version: Counter[str] = field(default_factory=Counter)  # version id -> new predictions
    feedback_by_version: Counter[str] = field(default_factory=Counter)  # version id -> new feedback

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": {"predictions": self.predictions, "feedback": self.feedback},
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "replaced": self.replaced,
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

    def __init__(self, *, ledger: Ledger, feedback: FeedbackIntake, blobs: BlobStore, clock: Clock,
                 image_check: ImageCheck | None = None) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.blobs = blobs
        self.clock = clock
        self.image_check = image_check or image_problem  # the adapters' check decodes; this one reads the header

    def ingest(
        self, lines: Iterable[str], *, skip_invalid: bool = False, progress: Callable[[int], None] | None = None,
        rejects: Callable[[str], None] | None = None, workers: int | None = None, replace: bool = False,
    ) -> IngestReport:
        """Stream the lines in chunks, in one transaction: memory stays bounded whatever the file's size.

        Parsing and validation (pure work) run in `workers` other processes when the input spans several chunks;
        this process keeps the ordering, the duplicate checks and the writes. `progress` gets each chunk's lines.
        With `replace`, a prediction stored earlier with other content is re-written, unless a dataset uses it.
        """
        return self._ingest(_chunks(enumerate(lines, start=1), CHUNK), skip_invalid, progress, rejects, workers,
                            replace)

    def ingest_stream(
        self, stream: IO[bytes], *, skip_invalid: bool = False, progress: Callable[[int], None] | None = None,
        rejects: Callable[[str], None] | None = None, workers: int | None = None, replace: bool = False,
    ) -> IngestReport:
        """`ingest` of a file's bytes, read in blocks of whole lines that the parsing workers split
        (application.record_lines): the same lines, outcome and report. `progress` gets each block's bytes."""
        return self._ingest(read_blocks(stream), skip_invalid, progress, rejects, workers, replace)

    def _ingest(self, chunks: Iterator[Chunk], skip_invalid: bool, progress: Callable[[int], None] | None,
                rejects: Callable[[str], None] | None, workers: int | None, replace: bool = False) -> IngestReport:
        report = IngestReport()
        versions = self.version_snapshot()
        now = self.clock.now()
        stored_images: list[str] = []  # images this batch stored that were not there before
        try:
            with self.feedback.writer(exclusive=True) as writer:  # concurrent ingests of the same records: duplicates
                batch = _Batch(self, writer, report, skip_invalid, rejects, stored_images,
                               lambda chunk: prepare_encoded(chunk, versions, now, self.image_check, writer.encoder),
                               DatasetUse(ledger=self.ledger, blobs=self.blobs) if replace else None)
                for chunk, encoded in _encoded_chunks(chunks, versions, now, _worker_count(workers),
                                                      self.image_check, writer.encoder, lambda: not batch.clashed):
                    batch.apply(chunk, encoded)
                    if progress:
                        progress(len(chunk.data) if isinstance(chunk, Block) else len(chunk))
                if report.errors and not skip_invalid:
                    raise BatchRejected(report)
        except BaseException:
            try:
                self._remove_unreferenced(stored_images)
            except Exception as error:  # noqa: BLE001 - the batch's own error is the one to report
                log.warning("unreferenced_images_left", images=len(stored_images), error=str(error))
            raise
        if batch.old_images:  # what the replaced records named and no record names now
            self._remove_unreferenced(sorted(set(batch.old_images)))
        log.info("ingested", predictions=report.predictions, feedback=report.feedback, duplicates=report.duplicates,
                 rejected=report.rejected, replaced=report.replaced)
        return report

    def _remove_unreferenced(self, images: list[str]) -> None:
        """A batch that was not written leaves none of the images it stored (unless a record stored since uses one)."""
        if not images:
            return
        in_use = self.feedback.images_in_use(images)
        for sha256 in images:
            if sha256 not in in_use:
                self.blobs.delete(sha256)

    def version_snapshot(self) -> dict[str, tuple[str, frozenset[str]]]:
        """Every version by label and by id: its id and classes (what validating a record needs)."""
        snapshot: dict[str, tuple[str, frozenset[str]]] = {}
        for version in self.ledger.versions():
            entry = (str(version.id), frozenset(version.classes))
            snapshot[version.label] = snapshot[str(version.id)] = entry
        return snapshot


class _Batch:
    """The state of one ingest: what the file itself has already defined, and what is written."""

    def __init__(self, ingestion: Ingestion, writer: FeedbackWriter, report: IngestReport, skip_invalid: bool,
                 rejects: Callable[[str], None] | None, stored_images: list[str],
                 prepare_here: Callable[[Chunk], list[Prepared]], uses: DatasetUse | None = None) -> None:
        self.ingestion = ingestion
        self.prepare_here = prepare_here  # a chunk's entries, prepared in this process
        self.clashed = False  # a chunk of new-looking predictions held one already stored (a re-sent file)
        self.stored_images = stored_images
        self.pending_images: dict[str, bytes] = {}  # sha256 -> image, stored by flush_images before their rows
        self.writer = writer
        self.report = report
        self.skip_invalid = skip_invalid
        self.rejects = rejects
        # Earlier chunks are already in the writer's transaction (`known` sees them); these cover the current chunk.
        self.seen: dict[str, tuple[int, str]] = {}  # prediction id -> (line, fingerprint)
        self.seen_feedback: set[tuple[str, str]] = set()
        self.versions: dict[str, str] = {}  # prediction id -> version id, for this chunk's new predictions
        self.chunk: Chunk = []  # the chunk being applied
        self.chunk_lines: list[tuple[int, str]] | None = None  # its lines, once one is needed
        # Replacing (`uses` given): what the datasets use, and what this batch re-wrote (few: a correction's records).
        self.uses = uses
        self.replaced: dict[str, int] = {}  # prediction id -> the line that re-wrote it
        self.replaced_here: set[str] = set()  # those of the current chunk: its stored answers are gone
        self.old_images: list[str] = []  # images the replaced predictions named before

    def reject(self, line: int, text: str, field_name: str, reason: str) -> None:
        self.report.rejected += 1
        if len(self.report.errors) < MAX_LISTED_ERRORS or self.skip_invalid:
            self.report.errors.append(RecordError(line, field_name, reason))
        if self.rejects is not None:
            self.rejects(text)

    def apply(self, chunk: Chunk, encoded: list[Prepared] | NewPredictions) -> None:
        """Check one encoded chunk against what is stored (and against itself), then write what is new."""
        self.chunk, self.chunk_lines = chunk, None
        self.seen.clear()
        self.seen_feedback.clear()
        self.versions.clear()
        self.replaced_here.clear()
        if isinstance(encoded, NewPredictions):
            if self.all_new_predictions(encoded):
                return
            self.clashed = True
            encoded = encoded.entries if encoded.entries is not None else self.prepare_here(chunk)
        ids = list({entry[3] for entry in encoded if entry[0] != "error"})
        known = self.writer.known(ids)
        known_feedback = self.writer.feedback_fingerprints([pid for pid in ids if pid in known])  # new ones have none
        rows: list[Any] = []
        answers: list[Any] = []
        for entry in encoded:
            if entry[0] == "error":
                _, line, text, field_name, reason = entry
                self.reject(line, text, field_name, reason)
            elif entry[0] == "prediction":
                self.prediction(entry, known, rows, answers)
            else:
                self.answer(entry, known, known_feedback, answers)
        self.flush_images()
        self.writer.add_encoded(rows, answers)  # a batch with errors is rolled back as a whole at the end

    def all_new_predictions(self, new: NewPredictions) -> bool:
        """The common chunk of a bulk import, written at once. The store's unique key checks that none is stored as
        it writes, with no lookup first. False, with nothing written, when one is."""
        if not self.writer.add_if_new(new.rows, new.answers):
            return False
        self.report.predictions += len(new.rows)
        self.report.predictions_by_version.update(new.by_version)
        self.report.feedback += len(new.answers)
        self.report.feedback_by_version.update(new.answered_by_version)
        return True

    def text(self, entry: Prepared) -> str:
        """An entry's line as it came: entries from the parsing workers leave it in the chunk this process kept
        (a block is split again here, for the few lines refused after parsing)."""
        if entry[2] is not None:
            return entry[2]
        if self.chunk_lines is None:
            self.chunk_lines = _numbered(self.chunk)
        return self.chunk_lines[entry[1] - self.chunk_lines[0][0]][1]

    def prediction(self, entry: Prepared, known: dict[str, Any], rows: list[Any], answers: list[Any]) -> None:
        _, line, _, pid, fingerprint, version_id, answered, image, image_sha256, (row, own_answer) = entry
        # This file's own line first: a prediction it replaced is also known, with the content it had before.
        earlier = self.seen[pid][1] if pid in self.seen else known[pid].fingerprint if pid in known else None
        if earlier is not None:
            if earlier == fingerprint:
                self.report.duplicates += 1
            elif self.uses is not None and pid not in self.seen:
                self.replace(entry, rows, answers)
            else:
                where = f" (line {self.seen[pid][0]})" if pid in self.seen else ""
                self.reject(line, self.text(entry), "prediction_id",
                            f"{pid!r} already exists{where} with different content")
            return
        if image is not None:
            self.store_image(image, image_sha256)
        self.seen[pid] = (line, fingerprint)
        self.versions[pid] = version_id
        rows.append(row)
        self.report.predictions += 1
        self.report.predictions_by_version[version_id] += 1
        if own_answer is not None:
            self.seen_feedback.add((pid, answered))
            answers.append(own_answer)
            self.report.feedback += 1
            self.report.feedback_by_version[version_id] += 1

    def store_image(self, image: bytes | None, image_sha256: str | None) -> None:
        """Queued, then stored before the rows that name it (`flush_images`); removed again if the batch is not
        written."""
        if image is not None and image_sha256:
            self.pending_images[image_sha256] = image

    def flush_images(self) -> None:
        """The queued images the blob store lacks, asked and written concurrently where it answers in parallel
        (one round trip each, not one per image after another)."""
        if not self.pending_images:
            return
        new = self.ingestion.blobs.missing(list(self.pending_images))
        if new:
            self.ingestion.blobs.put_many([image for sha, image in self.pending_images.items() if sha in new])
            self.stored_images.extend(sha for sha in self.pending_images if sha in new)
        self.pending_images.clear()

    def replace(self, entry: Prepared, rows: list[Any], answers: list[Any]) -> None:
        """Re-write a prediction stored before this batch with the record's content, unless a dataset uses it. The
        lines before it are written first, so that the stored answers it removes are the ones that came before."""
        _, line, _, pid, fingerprint, version_id, answered, image, image_sha256, (row, own_answer) = entry
        problem = self.replace_problem(pid)
        if problem is not None:
            self.reject(line, self.text(entry), "prediction_id", problem)
            return
        self.store_image(image, image_sha256)
        self.flush_images()
        self.writer.add_encoded(rows, answers)
        rows.clear()
        answers.clear()
        self.old_images += self.writer.replace_encoded([row], [own_answer] if own_answer is not None else [])
        self.seen[pid] = (line, fingerprint)
        self.versions[pid] = version_id
        self.replaced[pid] = line
        self.replaced_here.add(pid)
        if own_answer is not None:
            self.seen_feedback.add((pid, answered))
        self.report.replaced += 1

    def replace_problem(self, pid: str) -> str | None:
        """Why this stored prediction cannot be re-written: this file already wrote it, or a dataset uses it."""
        if pid in self.replaced:
            return f"{pid!r} already exists (line {self.replaced[pid]}) with different content"
        if not self.writer.stored_before([pid]):
            return f"{pid!r} already exists with different content"
        dataset = self.uses.dataset_using(pid) if self.uses is not None else None
        if dataset is not None:
            return f"{pid!r} cannot be replaced: {dataset} uses it"
        return None

    def answer(self, entry: Prepared, known: dict[str, KnownPrediction], known_feedback: set[tuple[str, str]],
               answers: list[Any]) -> None:
        _, line, _, pid, fingerprint, row = entry
        if pid not in known and pid not in self.seen:
            self.reject(line, self.text(entry), "prediction_id", f"feedback for unknown prediction {pid!r}")
            return
        key = (pid, fingerprint)
        if (key in known_feedback and pid not in self.replaced_here) or key in self.seen_feedback:
            self.report.duplicates += 1
            return
        self.seen_feedback.add(key)
        answers.append(row)
        self.report.feedback += 1
        self.report.feedback_by_version[self.versions[pid] if pid in self.versions else known[pid].version_id] += 1


# -- preparing a chunk: pure work, run here or in worker processes -------------------------------------------------
ImageCheck = Callable[[bytes], str | None]
Prepared = tuple[Any, ...]
Versions = dict[str, tuple[str, frozenset[str]]]
Chunk = list[tuple[int, str]] | Block  # numbered lines, or a block of a file's bytes that prepare_encoded splits


def _numbered(chunk: Chunk) -> list[tuple[int, str]]:
    return chunk.lines() if isinstance(chunk, Block) else chunk


def prepare(chunk: list[tuple[int, str]], versions: Versions, now: datetime,
            image_check: ImageCheck | None = None, *, fast: bool = True) -> list[Prepared]:
    """Parse and validate each line: ("error", line, text, field, reason), ("prediction", line, text, id,
    StoredPrediction, StoredFeedback | None, image bytes | None) or ("feedback", line, text, id, StoredFeedback).

    A line goes through msgspec first (application.record_decoding); one it cannot vouch for, and every line when
    `fast` is off, goes through pydantic, which gives the same outcome and names the field of a refusal."""
    image_check = image_check or image_problem
    prepared: list[Prepared] = []
    for line, text in chunk:
        if isinstance(text, OverlongLine):
            prepared.append(("error", line, text, "", OverlongLine.reason))
            continue
        if not text.strip():
            continue
        if undecodable(text):
            prepared.append(("error", line, text, "", "not valid UTF-8"))
            continue
        is_prediction = '"model_version"' in text
        record = decoded(text, is_prediction) if fast else None
        if record is not None:
            prepared.append(_prediction(line, text, record, versions, image_check) if is_prediction
                            else _feedback(line, text, record, now))
            continue
        try:
            record = (PREDICTION if is_prediction else FEEDBACK).validate_json(text)
        except ValidationError as error:
            if is_prediction and error.errors()[0]["loc"] == ("model_version",):  # the key was only in a comment
                is_prediction = False
                try:
                    record = FEEDBACK.validate_json(text)
                except ValidationError as second:
                    prepared.append(_invalid(line, text, second))
                    continue
            else:
                prepared.append(_invalid(line, text, error))
                continue
        prepared.append(_prediction(line, text, record, versions, image_check) if is_prediction
                        else _feedback(line, text, record, now))
    return prepared


def prepare_encoded(chunk: Chunk, versions: Versions, now: datetime, image_check: ImageCheck,
                    encoder: RowEncoder, keep_text: bool = True) -> list[Prepared]:
    """`prepare`, with each accepted record turned into the store's rows by its encoder, as what the checks against
    the store need: ("prediction", line, text, id, fingerprint, version id, own answer's fingerprint, image bytes,
    image sha256, (row, own answer's row)) or ("feedback", line, text, id, fingerprint, row). Without `keep_text`
    an accepted entry leaves its text out (None): a parsing worker sends back less, and the chunk has it."""
    encoded: list[Prepared] = []
    for entry in prepare(_numbered(chunk), versions, now, image_check):
        kind, line, text = entry[0], entry[1], entry[2] if keep_text else None
        if kind == "prediction":
            _, _, _, pid, prediction, answer, image = entry
            encoded.append((kind, line, text, pid, prediction.fingerprint, prediction.version_id,
                            answer.fingerprint if answer is not None else None, image, prediction.image_sha256,
                            encoder.prediction(prediction, answer)))
        elif kind == "feedback":
            _, _, _, pid, answer, _, _ = entry
            encoded.append((kind, line, text, pid, answer.fingerprint, encoder.feedback(answer)))
        else:
            encoded.append(entry)
    return encoded


@dataclass(frozen=True, slots=True)
class NewPredictions:
    """A chunk made only of new-looking predictions (none twice in it, no image, nothing refused: the loop of
    _Batch.apply would find nothing to refuse, count or store beside the rows): the common chunk of a bulk import.
    A parsing worker sends back only the rows and the counts, about half of what its entries would take to send and
    read back; `entries` are kept where the chunk was prepared in this process."""

    rows: list[Any]
    answers: list[Any]  # the predictions' own answers
    by_version: dict[str, int]  # version id -> predictions
    answered_by_version: dict[str, int]  # version id -> own answers
    entries: list[Prepared] | None = None


def prepare_for_writing(chunk: Chunk, versions: Versions, now: datetime, image_check: ImageCheck,
                        encoder: RowEncoder, *, in_worker: bool = False,
                        compact: bool = True) -> list[Prepared] | NewPredictions:
    """`prepare_encoded`, given as NewPredictions when the chunk is only new-looking predictions (and `compact`)."""
    encoded = prepare_encoded(chunk, versions, now, image_check, encoder, keep_text=not in_worker)
    if not compact or not encoded or any(entry[0] != "prediction" or entry[7] is not None for entry in encoded):
        return encoded
    if len({entry[3] for entry in encoded}) != len(encoded):
        return encoded
    answered = [entry for entry in encoded if entry[9][1] is not None]
    return NewPredictions([entry[9][0] for entry in encoded], [entry[9][1] for entry in answered],
                          Counter(entry[5] for entry in encoded), Counter(entry[5] for entry in answered),
                          None if in_worker else encoded)


def _invalid(line: int, text: str, error: ValidationError) -> Prepared:
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return ("error", line, text, "", f"malformed JSON ({first['ctx'].get('error', 'invalid')})")
    if first["type"] in ("model_type", "dict_type"):
        return ("error", line, text, "", "a record must be a JSON object")
    return ("error", line, text, ".".join(str(part) for part in first["loc"]) or "record", first["msg"])


def _prediction(line: int, text: str, record: dict[str, Any], versions: Versions, image_check: ImageCheck) -> Prepared:
    pid, label = record["prediction_id"], record["predicted_label"]
    if record.get("status", "ok") == "ok" and record.get("inference_ms") is None:
        return ("error", line, text, "inference_ms", "inference_ms is required when status is ok")
    version = versions.get(record["model_version"])
    if version is None:
        return ("error", line, text, "model_version", f"unknown model version {record['model_version']!r}")
    version_id, classes = version
    if label not in classes:
        return ("error", line, text, "predicted_label", f"{label!r} is not a class of the version")
    image, image_sha = None, None
    if record.get("image") is not None:
        decoded = _decode_image(record["image"], image_check)
        if isinstance(decoded, str):
            return ("error", line, text, "image", decoded)
        image, image_sha = decoded, hashlib.sha256(decoded).hexdigest()
    moment = record["timestamp"]  # aware; any offset (stores convert to UTC microseconds)
    prediction = StoredPrediction(
        pid, version_id, moment, label, record.get("inference_ms"), record.get("status", "ok"),
        record.get("confidence"), record.get("image_type", "unknown"), image_sha, record.get("user_ref"),
        prediction_fingerprint(record, moment, image_sha, version_id),
    )
    answer = None
    if record.get("user_feedback") is not None or record.get("comment") or record.get("corrected_label"):
        answer = _stored_feedback(pid, record.get("user_feedback"), record.get("feedback_at") or moment,
                                  record.get("comment"), record.get("corrected_label"),
                                  record.get("gdpr_consent", False))
    return ("prediction", line, text, pid, prediction, answer, image)


def _feedback(line: int, text: str, record: dict[str, Any], now: datetime) -> Prepared:
    pid = record["prediction_id"]
    answer = _stored_feedback(pid, record["user_feedback"], record.get("timestamp") or now,  # no timestamp: now
                              record.get("comment"), record.get("corrected_label"), record.get("gdpr_consent", False),
                              stamped=record.get("timestamp") is not None)
    return ("feedback", line, text, pid, answer, None, None)


def _worker_count(requested: int | None) -> int:
    if requested is not None:
        return max(0, requested)
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _encoded_chunks(
    chunks: Iterator[Chunk], versions: Versions, now: datetime, workers: int, image_check: ImageCheck,
    encoder: RowEncoder, compact: Callable[[], bool],
) -> Iterator[tuple[Chunk, list[Prepared] | NewPredictions]]:
    """Each chunk with its encoded entries, in order. With workers, a few chunks are prepared ahead (bounded).
    Once `compact()` is False (a chunk of new-looking predictions was not new: a re-sent file), every chunk comes
    as its entries, for the record-by-record checks: no more inserts that fail, and no worker's chunk prepared
    again here."""
    first = next(chunks, None)
    if first is None:
        return
    if workers == 0 or (first.final if isinstance(first, Block) else len(first) < CHUNK):  # one chunk: no workers
        for chunk in itertools.chain([first], chunks):
            yield chunk, prepare_for_writing(chunk, versions, now, image_check, encoder, compact=compact())
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pending: deque[tuple[Chunk, Future[list[Prepared] | NewPredictions]]] = deque()
        for chunk in itertools.chain([first], chunks):
            pending.append((chunk, pool.submit(prepare_for_writing, chunk, versions, now, image_check, encoder,
                                               in_worker=True, compact=compact())))
            if len(pending) > 2 * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _exit_with_parent(parent: int) -> None:
    """A parsing worker exits when the ingest that started it is gone (killed with SIGKILL, it cannot say so)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _decode_image(text: str, image_check: ImageCheck) -> bytes | str:
    if len(text) > math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 4:
        return "image is larger than 5 MB"
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "image is not valid base64"
    return image_check(data) or data


def image_problem(data: bytes) -> str | None:
    """Why these bytes cannot be a record's image (too large, not PNG or JPEG), or None."""
    if len(data) > MAX_IMAGE_BYTES:
        return "image is larger than 5 MB"
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8")):
        return "image is neither PNG nor JPEG"
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """The instant in UTC microseconds: the same instant written with another offset is the same content."""
    return (moment - _EPOCH) // _MICRO


def prediction_fingerprint(r: dict[str, Any], moment: datetime, image_sha: str | None, version_id: str) -> str:
    """The record's content as validated (so formatting does not matter), its image by hash, its version by id."""
    given = r.get("feedback_at")
    text = (
        f"{r['prediction_id']}\x1f{_micros(moment)}\x1f{version_id}\x1f{r['predicted_label']}"
        f"\x1f{r.get('confidence')!r}\x1f{r.get('inference_ms')!r}\x1f{r.get('status', 'ok')}"
        f"\x1f{r.get('image_type', 'unknown')}\x1f{image_sha}\x1f{r.get('user_ref')!r}\x1f{r.get('user_feedback')!r}"
        f"\x1f{r.get('comment')!r}\x1f{r.get('corrected_label')!r}\x1f{r.get('gdpr_consent', False)}"
        f"\x1f{_micros(given) if given else None}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_feedback(prediction_id: str, value: int | None, given: Any, comment: str | None, label: str | None,
                     consent: bool, *, stamped: bool = True) -> StoredFeedback:
    """`stamped`: the record carried its own time. One without is given the time of its arrival, which is not
    part of its identity: the same record sent again later (a client's retry) is a duplicate, not a new answer."""
    moment = _micros(given) if stamped else "arrival"
    content = f"{prediction_id}\x1f{value}\x1f{moment}\x1f{comment!r}\x1f{label!r}\x1f{consent}"
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
