"""In-memory adapters: the same ports as the real ones, for fast tests of the use cases. The feedback store's role
fakes share one `FeedbackTables`; `InMemoryFeedbackStore` is all of them at once."""

from __future__ import annotations

import hashlib
import io
import math
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from application.ports import (
    BlobStore,
    Comparison,
    ImageDecodeError,
    ModelRef,
    Prediction,
    TrainedModel,
    TrainingRequest,
)
from application.records import (
    DailySatisfaction,
    KnownPrediction,
    RatedOutcome,
    ReviewContext,
    ReviewItem,
    StoredFeedback,
    StoredPrediction,
)
from domain.payloads import PairedCounts, PairedItems
from domain.rules.curation import Candidate, item_reference
from domain.rules.negative_comments import count_watched
from domain.rules.phase_health import PhaseStats
from domain.rules.validation_gates import ModelFigures

FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class FeedbackTables:
    """The in-memory store's state, which its role fakes share: predictions by id, their ingestion order, every
    answer per prediction, review items; and the windows SPEC 4.1 reads them through."""

    predictions: dict[str, StoredPrediction] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, list[StoredFeedback]] = field(default_factory=dict)
    reviews: dict[tuple[str, str], ReviewItem] = field(default_factory=dict)

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        for prediction in predictions:
            self.order.setdefault(prediction.prediction_id, len(self.order))
            self.predictions[prediction.prediction_id] = prediction
        for answer in feedback:
            if answer.prediction_id not in self.predictions:
                raise KeyError(answer.prediction_id)
            self.feedback.setdefault(answer.prediction_id, []).append(answer)

    def in_order(self) -> list[StoredPrediction]:
        """Every prediction, in ingestion order."""
        return sorted(self.predictions.values(), key=lambda p: self.order[p.prediction_id])

    def served(self, version_id: str, as_of: datetime) -> list[StoredPrediction]:
        rows = [p for p in self.predictions.values() if p.version_id == version_id and p.timestamp <= as_of]
        return sorted(rows, key=lambda p: (p.timestamp, self.order[p.prediction_id]))

    def latest_feedback(self, prediction_id: str, as_of: datetime) -> StoredFeedback | None:
        answers = [(f.feedback_at, i, f) for i, f in enumerate(self.feedback.get(prediction_id, []))
                   if f.feedback_at <= as_of]
        return max(answers, key=lambda a: (a[0], a[1]))[2] if answers else None

    def rated(self, version_id: str, as_of: datetime) -> list[tuple[StoredPrediction, StoredFeedback]]:
        rated = []
        for prediction in self.served(version_id, as_of):
            answer = self.latest_feedback(prediction.prediction_id, as_of)
            if answer is not None and answer.user_feedback is not None:
                rated.append((prediction, answer))
        return rated


class OnTables:
    """A role fake: it reads and writes the tables it is given (new, empty ones by default)."""

    def __init__(self, tables: FeedbackTables | None = None) -> None:
        self.tables = tables if tables is not None else FeedbackTables()


class InMemoryImageReferences(OnTables):
    """ImageReferences: the images the stored predictions and review items name."""

    def images_in_use(self, image_sha256s: Sequence[str]) -> set[str]:
        tables = self.tables
        used = {p.image_sha256 for p in tables.predictions.values()} | {r.image_sha256 for r in tables.reviews.values()}
        return {sha for sha in image_sha256s if sha in used}


class InMemoryIntake(InMemoryImageReferences):
    """FeedbackIntake: staged batches and plain adds, in ingestion order."""

    @contextmanager
    def writer(self, *, exclusive: bool = False) -> Iterator[InMemoryWriter]:
        """Stages a batch; it lands only if the block ends without an exception."""
        staged = InMemoryWriter(self.tables)
        yield staged
        for pid in staged.replaced:  # their stored answers give way to the batch's
            self.tables.feedback.pop(pid, None)
        self.add(staged.predictions, staged.feedback)

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        self.tables.add(predictions, feedback)


class InMemoryTrafficStatistics(OnTables):
    """TrafficStatistics: the windows of SPEC 4.1 and the rollout's phases, exactly as specified."""

    def rated_outcomes(
        self, version_id: str, *, as_of: datetime, limit: int, image_type: str | None = None
    ) -> list[RatedOutcome]:
        rows = [
            RatedOutcome(p.timestamp, bool(f.user_feedback))
            for p, f in self.tables.rated(version_id, as_of)
            if image_type is None or p.image_type == image_type
        ]
        return rows[-limit:]

    def rated_outcomes_by_image_type(
        self, version_id: str, *, as_of: datetime, limit: int
    ) -> dict[str, list[RatedOutcome]]:
        by_type: dict[str, list[RatedOutcome]] = {}
        for p, f in self.tables.rated(version_id, as_of):
            by_type.setdefault(p.image_type, []).append(RatedOutcome(p.timestamp, bool(f.user_feedback)))
        return {image_type: rows[-limit:] for image_type, rows in by_type.items()}

    def ok_latencies(self, version_id: str, *, as_of: datetime, limit: int, first: bool = False) -> list[float]:
        values = [
            float(p.inference_ms) for p in self.tables.served(version_id, as_of)
            if p.status == "ok" and p.inference_ms is not None
        ]
        return values[:limit] if first else values[-limit:]

    def error_counts(self, version_id: str, *, since: datetime, until: datetime) -> tuple[int, int]:
        window = [p for p in self.tables.served(version_id, until) if since < p.timestamp]
        return sum(1 for p in window if p.status == "error"), len(window)

    def negative_comments(self, version_id: str, *, since: datetime, until: datetime) -> list[str]:
        comments = []
        for prediction in self.tables.served(version_id, until):
            answer = self.tables.latest_feedback(prediction.prediction_id, until)
            if answer and answer.user_feedback == 0 and answer.comment and since < answer.feedback_at <= until:
                comments.append(answer.comment)
        return comments

    def negative_comment_counts(
        self, version_id: str, *, since: datetime, until: datetime, terms: Sequence[str]
    ) -> tuple[int, dict[str, int], int]:
        comments = self.negative_comments(version_id, since=since, until=until)
        return (*count_watched(comments, terms), len(comments))

    def phase_stats(self, version_id: str, *, since: datetime, until: datetime) -> PhaseStats:
        window = [p for p in self.tables.served(version_id, until) if since <= p.timestamp]
        segments = {image_type: self._stats([p for p in window if p.image_type == image_type], until)
                    for image_type in sorted({p.image_type for p in window})}
        return replace(self._stats(window, until), segments=segments)

    def _stats(self, window: list[StoredPrediction], until: datetime) -> PhaseStats:
        ok = [float(p.inference_ms) for p in window if p.status == "ok" and p.inference_ms is not None]
        answers = [self.tables.latest_feedback(p.prediction_id, until) for p in window]
        rated = [a for a in answers if a is not None and a.user_feedback is not None]
        return PhaseStats(
            predictions=len(window),
            errors=sum(1 for p in window if p.status == "error"),
            rated=len(rated),
            satisfied=sum(1 for a in rated if a.user_feedback == 1),
            mean_latency_ms=math.fsum(ok) / len(ok) if ok else None,
            ok_predictions=len(ok),
            latency_variance=statistics.variance(ok) if len(ok) > 1 else None,
        )


class InMemoryReviewQueue(OnTables):
    """ReviewQueue: curation's candidates and the review items."""

    def curation_candidates(
        self, version_ids: Sequence[str], *, since: datetime | None, as_of: datetime
    ) -> list[Candidate]:
        candidates = []
        for version_id in version_ids:
            for prediction in self.tables.served(version_id, as_of):
                answer = self.tables.latest_feedback(prediction.prediction_id, as_of)
                if answer is None or (since is not None and answer.feedback_at <= since):
                    continue
                candidates.append(_candidate(prediction, answer))
        return sorted(candidates, key=lambda c: self.tables.order[c.prediction_id])

    def save_review_items(self, items: Sequence[ReviewItem]) -> None:
        for item in items:
            self.tables.reviews[(item.campaign_id, item.item)] = item

    def review_items(self, campaign_id: str) -> list[ReviewItem]:
        return [item for (campaign, _), item in self.tables.reviews.items() if campaign == campaign_id]

    def decide_review_item(self, campaign_id: str, item: str, *, decision: str, label: str | None, actor: str) -> None:
        current = self.tables.reviews[(campaign_id, item)]
        self.tables.reviews[(campaign_id, item)] = replace(current, decision=decision, decided_label=label,
                                                           actor=actor)


class InMemoryConsoleFigures(OnTables):
    """ConsoleFigures: the web console's satisfaction chart and review context."""

    def review_context(self, prediction_ids: Sequence[str]) -> dict[str, ReviewContext]:
        found = {}
        for pid in prediction_ids:
            if (p := self.tables.predictions.get(pid)) is None:
                continue
            answer = self.tables.latest_feedback(pid, FOREVER)
            found[pid] = ReviewContext(pid, p.predicted_label, p.confidence, p.image_type, p.timestamp,
                                       answer.comment if answer else None, answer.corrected_label if answer else None,
                                       answer.feedback_at if answer else None, bool(answer and answer.gdpr_consent))
        return found

    def daily_satisfaction(self, *, until: datetime | None = None) -> list[DailySatisfaction]:
        counts: dict[tuple[str, str, Any], list[int]] = {}
        for p in self.tables.in_order():
            answer = self.tables.latest_feedback(p.prediction_id, until or FOREVER)
            if (until is not None and p.timestamp > until) or answer is None or answer.user_feedback is None:
                continue
            tally = counts.setdefault((p.version_id, p.image_type, p.timestamp.astimezone(UTC).date()), [0, 0])
            tally[0] += 1
            tally[1] += answer.user_feedback
        return [DailySatisfaction(v, t, d, n, s) for (v, t, d), (n, s) in
                sorted(counts.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))]


class InMemoryUserData(InMemoryImageReferences):
    """UserData: one user's predictions, and erasure."""

    def user_predictions(self, user_ref: str) -> list[tuple[str, str | None]]:
        return [(p.prediction_id, p.image_sha256) for p in self.tables.in_order() if p.user_ref == user_ref]

    def erase(self, prediction_ids: Sequence[str]) -> dict[str, int]:
        ids, tables = set(prediction_ids), self.tables
        reviews = [key for key, item in tables.reviews.items() if item.prediction_id in ids]
        for key in reviews:
            del tables.reviews[key]
        answers = sum(len(tables.feedback.pop(pid, [])) for pid in ids)
        erased = [pid for pid in ids if tables.predictions.pop(pid, None) is not None]
        return {"predictions": len(erased), "feedback": answers, "review_items": len(reviews)}


class InMemoryFeedbackStore(InMemoryIntake, InMemoryTrafficStatistics, InMemoryReviewQueue, InMemoryConsoleFigures,
                            InMemoryUserData):
    """Every role over one set of tables, in ingestion order; queries follow SPEC 4.1 exactly. Its tables show
    through (`predictions`, `feedback`, `reviews`) for the tests that look at what is stored."""

    @property
    def predictions(self) -> dict[str, StoredPrediction]:
        return self.tables.predictions

    @property
    def feedback(self) -> dict[str, list[StoredFeedback]]:
        return self.tables.feedback

    @property
    def reviews(self) -> dict[tuple[str, str], ReviewItem]:
        return self.tables.reviews


class RecordsAsRows:
    """The in-memory store's rows are the records themselves; an answer says whether it came inline."""

    def prediction(self, prediction: StoredPrediction, answer: StoredFeedback | None) -> tuple[Any, Any]:
        return prediction, (answer, None) if answer is not None else None

    def feedback(self, answer: StoredFeedback) -> Any:
        return answer, True


class InMemoryWriter:
    """One staged batch of the in-memory store."""

    encoder = RecordsAsRows()

    def __init__(self, tables: FeedbackTables) -> None:
        self.tables = tables
        self.predictions: list[StoredPrediction] = []
        self.feedback: list[StoredFeedback] = []
        self.replaced: set[str] = set()  # stored predictions this batch re-writes

    def known(self, prediction_ids: Sequence[str]) -> dict[str, KnownPrediction]:
        everything = {**self.tables.predictions, **{p.prediction_id: p for p in self.predictions}}
        return {
            pid: KnownPrediction(everything[pid].fingerprint, everything[pid].version_id)
            for pid in prediction_ids if pid in everything
        }

    def feedback_fingerprints(self, prediction_ids: Sequence[str]) -> set[tuple[str, str]]:
        wanted = set(prediction_ids)
        stored = [f for pid in wanted - self.replaced for f in self.tables.feedback.get(pid, [])]
        return {(f.prediction_id, f.fingerprint) for f in [*stored, *self.feedback] if f.prediction_id in wanted}

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        self.predictions.extend(predictions)
        self.feedback.extend(feedback)

    def add_encoded(self, predictions: Sequence[Any], answers: Sequence[Any]) -> None:
        self.add(predictions, [answer for answer, _ in answers])

    def add_if_new(self, predictions: Sequence[Any], answers: Sequence[Any]) -> bool:
        if self.known([p.prediction_id for p in predictions]):
            return False
        self.add_encoded(predictions, answers)
        return True

    def stored_before(self, prediction_ids: Sequence[str]) -> set[str]:
        return {pid for pid in prediction_ids if pid in self.tables.predictions}

    def replace_encoded(self, predictions: Sequence[Any], answers: Sequence[Any]) -> list[str]:
        ids = {p.prediction_id for p in predictions}
        old = [self.tables.predictions[pid].image_sha256 for pid in ids if pid in self.tables.predictions]
        self.replaced |= ids
        self.predictions = [p for p in self.predictions if p.prediction_id not in ids]
        self.feedback = [f for f in self.feedback if f.prediction_id not in ids]
        self.add_encoded(predictions, answers)
        return [sha for sha in old if sha]


def _candidate(prediction: StoredPrediction, answer: StoredFeedback) -> Candidate:
    return Candidate(
        item=item_reference(prediction.prediction_id),
        prediction_id=prediction.prediction_id,
        predicted_label=prediction.predicted_label,
        predicted_at=prediction.timestamp,
        feedback_at=answer.feedback_at,
        consent=answer.gdpr_consent,
        feedback=answer.user_feedback,
        corrected_label=answer.corrected_label,
        comment=answer.comment if answer.gdpr_consent else None,
        confidence=prediction.confidence,
        image_sha256=prediction.image_sha256,
        image_type=prediction.image_type,
    )


class InMemoryBlobStore:
    """Blobs in a dict, keyed by their sha256."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return sha

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        return [self.put(data) for data in blobs]

    def get(self, sha256: str) -> bytes:
        try:
            return self.blobs[sha256]
        except KeyError:
            raise FileNotFoundError(sha256) from None

    def get_many(self, shas: Sequence[str]) -> dict[str, bytes]:
        return {sha: self.blobs[sha] for sha in shas if sha in self.blobs}

    def delete(self, sha256: str) -> bool:
        return self.blobs.pop(sha256, None) is not None

    def has(self, sha256: str) -> bool:
        return sha256 in self.blobs

    def missing(self, shas: Sequence[str]) -> set[str]:
        return {sha for sha in shas if sha not in self.blobs}


class FakePredictor:
    """Decodes images with Pillow (a real decoder), and answers a fixed label per model."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]:
        label = self.answers.get(model.label, model.classes[0])
        return [Prediction(label, 0.9, 1.0) for _ in images]

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(image)) as decoded:
                decoded.load()
                extrema = decoded.convert("L").getextrema()
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ImageDecodeError(f"image does not decode: {error}") from None
        if extrema[0] == extrema[1]:
            raise ImageDecodeError("image is constant")

    def check_weights(self, artifact: bytes, architecture: str, input_spec: dict[str, Any], classes: list[str],
                      architecture_options: dict[str, Any] | None = None) -> None:
        if not artifact:
            raise ValueError("the weights file is empty")


class FakeTrainer:
    """Returns an artifact derived from the request, or fails when told to."""

    def __init__(self, blobs: BlobStore, metrics: dict[str, Any] | None = None) -> None:
        self.blobs = blobs
        self.metrics = metrics or {"best_epoch": 1, "validation_accuracy": 0.9}
        self.failure: str | None = None
        self.requests: list[TrainingRequest] = []

    def train(self, request: TrainingRequest) -> TrainedModel:
        self.requests.append(request)
        if self.failure:
            raise RuntimeError(self.failure)
        artifact = f"{request.parent.artifact_sha256}:{request.strategy}:{request.dataset_id}:{request.seed}".encode()
        return TrainedModel(
            self.blobs.put(artifact), dict(self.metrics), request.parent.architecture,
            dict(request.parent.input_spec), list(request.parent.classes),
        )


class FakeEvaluator:
    """Reports the figures it is given for each model label (the side-by-side measurement is the adapter's job), on
    the items it is told of, as the torch evaluator does: the validation set is the curated split plus the original
    one, the test set is the original one, and a figure over 0 items is absent (None)."""

    def __init__(self) -> None:
        self.figures: dict[str, ModelFigures] = {}
        self.default = ModelFigures(validation_accuracy=0.80, test_accuracy=0.97, latency_ms=1.0)
        self.per_image_type: dict[str, dict[str, float]] = {}  # image type -> {model label: accuracy, "items": n}
        self.curated_validation_items = 20
        self.original_items = {"validation": 80, "test": 100}  # the lineage's original dataset, when it has one
        # the items only the parent got right and only the candidate did, on "validation" or "test"; otherwise (and
        # per image type) the fewest the two accuracies allow: the better model right wherever the other one is
        self.discordant: dict[str, tuple[int, int]] = {}

    def compare(
        self, parent: ModelRef, candidate: ModelRef, dataset_id: str, original_dataset_id: str | None = None
    ) -> Comparison:
        validation_sets = [dataset_id, *([original_dataset_id] if original_dataset_id else [])]
        original = self.original_items if original_dataset_id else {"validation": 0, "test": 0}
        items = {"validation": self.curated_validation_items + original["validation"], "test": original["test"]}
        before = self._measured(self.figures.get(parent.label, self.default), items)
        after = self._measured(self.figures.get(candidate.label, self.default), items)
        return Comparison(
            before,
            after,
            paired=self._paired(before, after, items, (parent.label, candidate.label)),
            per_image_type={segment: dict(figures) for segment, figures in self.per_image_type.items()},
            measured_on={
                "validation_accuracy": {"datasets": validation_sets, "split": "validation",
                                        "items": items["validation"]},
                "test_accuracy": {"datasets": validation_sets[1:], "split": "test", "items": items["test"]},
                "latency_ms": {"datasets": validation_sets, "split": "validation",
                               "calls": 100 if items["validation"] else 0},
            },
        )

    def _paired(self, before: ModelFigures, after: ModelFigures, items: dict[str, int],
                labels: tuple[str, str]) -> PairedItems:
        """The paired counts of each set and image type measured (none over 0 items)."""
        paired = PairedItems()
        if items["validation"]:
            paired["validation"] = self._counts(self.discordant.get("validation"), items["validation"],
                                                before.validation_accuracy, after.validation_accuracy)
            paired["per_image_type"] = {
                segment: self._counts(None, int(figures["items"]), figures[labels[0]], figures[labels[1]])
                for segment, figures in self.per_image_type.items() if set(labels) <= set(figures)}
        if items["test"]:
            paired["test"] = self._counts(self.discordant.get("test"), items["test"], before.test_accuracy,
                                          after.test_accuracy)
        return paired

    @staticmethod
    def _counts(discordant: tuple[int, int] | None, n: int, before: float | None,
                after: float | None) -> PairedCounts:
        """Counts the accuracies agree with: given discordant items must make the accuracy difference."""
        right_before, right_after = round((before or 0.0) * n), round((after or 0.0) * n)
        b, c = discordant or (max(0, right_before - right_after), max(0, right_after - right_before))
        assert discordant is None or math.isclose((c - b) / n, (after or 0.0) - (before or 0.0), abs_tol=1e-9), (
            f"{c} - {b} discordant items of {n} do not make the accuracy difference {before} -> {after}")
        return PairedCounts(n=n, b=b, c=c)

    @staticmethod
    def _measured(figures: ModelFigures, items: dict[str, int]) -> ModelFigures:
        """No figure over 0 items: no test accuracy without an original test set, nothing timed without an image."""
        return replace(figures, validation_accuracy=figures.validation_accuracy if items["validation"] else None,
                       test_accuracy=figures.test_accuracy if items["test"] else None,
                       latency_ms=figures.latency_ms if items["validation"] else None)
