"""One ingest's batch (SPEC section 2): each prepared record checked against what is stored and what the file itself
already defined, the new ones written (a stored prediction re-written with `replace`), and the report of it all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from application.chunk_preparation import Chunk, NewPredictions, numbered
from application.corrections import DatasetUse
from application.ports import BlobStore, FeedbackWriter
from application.record_validation import Prepared
from application.records import KnownPrediction
from domain.errors import InvalidInput

MAX_LISTED_ERRORS = 100


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



class Batch:
    """The state of one ingest: what the file itself has already defined, and what is written."""

    def __init__(self, blobs: BlobStore, writer: FeedbackWriter, report: IngestReport, skip_invalid: bool,
                 rejects: Callable[[str], None] | None, stored_images: list[str],
                 prepare_here: Callable[[Chunk], list[Prepared]], uses: DatasetUse | None = None) -> None:
        self.blobs = blobs
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
            self.chunk_lines = numbered(self.chunk)
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
        new = self.blobs.missing(list(self.pending_images))
        if new:
            self.blobs.put_many([image for sha, image in self.pending_images.items() if sha in new])
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


