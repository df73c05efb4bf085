"""The ports: what the use cases need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from application.records import (
    DailySatisfaction,
    KnownPrediction,
    PredictionBatch,
    RatedOutcome,
    ReviewContext,
    ReviewItem,
    StoredFeedback,
    StoredPrediction,
)
from domain.payloads import PairedItems
from domain.rules.curation import Candidate
from domain.rules.phase_health import PhaseStats
from domain.rules.validation_gates import ModelFigures


class Clock(Protocol):
    """The current time; rules never read the wall clock themselves."""

    def now(self) -> datetime: ...


class RowEncoder(Protocol):
    """Pure functions that turn validated records into a writer's rows. Ingestion runs them in its parsing workers,
    so they read nothing but their arguments, and the encoder pickles (an instance of a module-level class)."""

    def prediction(self, prediction: StoredPrediction, answer: StoredFeedback | None) -> tuple[Any, Any]:
        """A new prediction's row, and its own answer's (or None)."""
        ...

    def feedback(self, answer: StoredFeedback) -> Any:
        """A later answer's row, which also makes it its prediction's latest answer when it is."""
        ...


class ParsingPool(Protocol):
    """Ingestion's parsing workers: other processes that run its pure work (preparing chunks) ahead of its writes."""

    def workers(self, requested: int | None) -> int:
        """The processes an ingest gets when it asks for `requested` (None: the pool's default); 0: none."""
        ...

    def results(self, calls: Iterator[Callable[[], Any]], workers: int) -> Iterator[Any]:
        """Each call's result, in order. The calls run in `workers` processes, a bounded few ahead of the results
        read; each is taken from `calls` only as it is handed over, and pickles (a module-level function's partial)."""
        ...


class FeedbackWriter(Protocol):
    """One atomic batch of writes: all of it is committed, or none of it."""

    @property
    def encoder(self) -> RowEncoder: ...

    def known(self, prediction_ids: Sequence[str]) -> dict[str, KnownPrediction]: ...

    def feedback_fingerprints(self, prediction_ids: Sequence[str]) -> set[tuple[str, str]]: ...

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None: ...

    def add_encoded(self, predictions: Sequence[Any], answers: Sequence[Any]) -> None:
        """Rows from `encoder`: new predictions' rows, then answers' rows in the order they came."""
        ...

    def add_if_new(self, predictions: Sequence[Any], answers: Sequence[Any]) -> bool:
        """`add_encoded` for predictions that look new (and only their own answers), written only if none of them is
        stored yet: True when they are written; False, with nothing written, when one is already stored. The store's
        unique key does the check as it writes, so the common chunk of a bulk import needs no lookup first."""
        ...

    def stored_before(self, prediction_ids: Sequence[str]) -> set[str]:
        """Those of these predictions that were stored before this (exclusive) transaction began."""
        ...

    def replace_encoded(self, predictions: Sequence[Any], answers: Sequence[Any]) -> list[str]:
        """Rows from `encoder` for stored predictions: each re-writes its prediction in place (its ingestion order
        kept), and every answer stored for it gives way to its own answers. Returns the images the old rows named."""
        ...


class FeedbackStore(Protocol):
    """Predictions, feedback and review items: high-volume data kept out of the event streams."""

    def writer(self, *, exclusive: bool = False) -> AbstractContextManager[FeedbackWriter]:
        """One transaction; `exclusive` ones (ingestion) run one at a time, so that checking what is stored and
        writing what is new cannot interleave with another process's."""
        ...

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None: ...

    def rated_outcomes(
        self, version_id: str, *, as_of: datetime, limit: int, image_type: str | None = None
    ) -> list[RatedOutcome]: ...

    def rated_outcomes_by_image_type(
        self, version_id: str, *, as_of: datetime, limit: int
    ) -> dict[str, list[RatedOutcome]]: ...

    def ok_latencies(self, version_id: str, *, as_of: datetime, limit: int, first: bool = False) -> list[float]: ...

    def error_counts(self, version_id: str, *, since: datetime, until: datetime) -> tuple[int, int]: ...

    def negative_comment_counts(
        self, version_id: str, *, since: datetime, until: datetime, terms: Sequence[str]
    ) -> tuple[int, dict[str, int], int]:
        """Negative feedback given in (since, until]: how many comments name a watched term, per term, and in all."""
        ...

    def phase_stats(self, version_id: str, *, since: datetime, until: datetime) -> PhaseStats:
        """The version's predictions with since <= timestamp <= until, in all and per image type (`segments`, each
        with no segments of its own): errors; ratings by each prediction's latest feedback as of `until`; the count,
        mean and sample variance (None below 2) of the ok predictions' `inference_ms`."""
        ...

    def curation_candidates(self, version_ids: Sequence[str], *, since: datetime | None,
                            as_of: datetime) -> list[Candidate]: ...

    def save_review_items(self, items: Sequence[ReviewItem]) -> None: ...

    def review_items(self, campaign_id: str) -> list[ReviewItem]: ...

    def decide_review_item(self, campaign_id: str, item: str, *, decision: str, label: str | None,
                           actor: str) -> None: ...

    def review_context(self, prediction_ids: Sequence[str]) -> dict[str, ReviewContext]:
        """These predictions as served, each with its latest feedback (the web console's review page)."""
        ...

    def daily_satisfaction(self, *, until: datetime | None = None) -> list[DailySatisfaction]:
        """Rated predictions per version, image type and day served, each counted by its latest feedback given by
        `until` (all of them without it)."""
        ...

    def user_predictions(self, user_ref: str) -> list[tuple[str, str | None]]:
        """The prediction ids and image hashes of one user's predictions (SPEC 7, erasure)."""
        ...

    def erase(self, prediction_ids: Sequence[str]) -> dict[str, int]:
        """Delete these predictions, their feedback and their review items, in one transaction, leaving no readable
        trace in the store's files; returns how many of each were deleted."""
        ...

    def images_in_use(self, image_sha256s: Sequence[str]) -> set[str]:
        """Those of these images that a remaining prediction or review item still refers to."""
        ...


class PredictionLog(Protocol):
    """Where served predictions are logged: `write` stores the images, then commits the rows in one transaction."""

    def write(self, batch: PredictionBatch) -> None: ...


class BlobStore(Protocol):
    """Images, datasets and model artifacts, content-addressed by sha256."""

    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        """Several blobs, each whole or absent; with `sync`, on disk when it returns, else when the system writes
        them back (a crashed process loses none; a power cut may lose the last ones)."""
        ...

    def get(self, sha256: str) -> bytes: ...

    def get_many(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Several blobs at once (concurrently where the store answers in parallel), by sha256; those absent are
        left out of the answer."""
        ...

    def has(self, sha256: str) -> bool: ...

    def missing(self, shas: Sequence[str]) -> set[str]:
        """Which of these blobs the store lacks (asked concurrently where it answers in parallel)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove a blob (erasure only: nothing else is ever deleted); False if it was not there."""
        ...


class BlobStoreUnavailable(RuntimeError):
    """The blob store cannot be reached or refuses a request (one sentence naming it)."""


class StoreUnavailable(RuntimeError):
    """The event store's or the feedback store's database cannot be reached (one sentence naming it)."""


class ImageDecodeError(Exception):
    """An image is missing, does not decode, is constant, or cannot become the model's input."""


@dataclass(frozen=True)
class ModelRef:
    """What an adapter needs to load a version's model."""

    version_id: str
    label: str
    architecture: str
    input_spec: dict[str, Any]
    classes: list[str]
    artifact_sha256: str
    architecture_options: dict[str, Any] = field(default_factory=dict)  # a team architecture's kwargs and path


@dataclass(frozen=True)
class TrainingRequest:
    """Rule 4.5: what to train from (the parent), on what (curated + original data), how, with which seed."""

    strategy: str
    parent: ModelRef | None
    dataset_id: str | None
    config: dict[str, Any]
    seed: int
    original_dataset_id: str | None = None
    architecture: str = ""
    classes: list[str] = field(default_factory=list)
    input_spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def first_model(cls, *, architecture: str, classes: list[str], input_spec: dict[str, Any],
                    original_dataset_id: str, config: dict[str, Any], seed: int) -> TrainingRequest:
        """A model trained from scratch on an original dataset only (`retrain init`)."""
        return cls("full", None, None, config, seed, original_dataset_id, architecture, list(classes), dict(input_spec))

    @property
    def target(self) -> tuple[str, list[str], dict[str, Any]]:
        """Architecture, classes and input spec of the model to produce."""
        if self.parent is not None:
            return self.parent.architecture, list(self.parent.classes), dict(self.parent.input_spec)
        return self.architecture, list(self.classes), dict(self.input_spec)

    @property
    def architecture_options(self) -> dict[str, Any]:
        return dict(self.parent.architecture_options) if self.parent is not None else {}


@dataclass(frozen=True)
class TrainedModel:
    artifact_sha256: str
    metrics: dict[str, Any]
    architecture: str
    input_spec: dict[str, Any]
    classes: list[str]
    choices: dict[str, Any] = field(default_factory=dict)  # what the trainer chose from the data (recorded)


@dataclass(frozen=True)
class Comparison:
    """Parent and candidate measured side by side in one run (rule 4.6)."""

    parent: ModelFigures
    candidate: ModelFigures
    per_image_type: dict[str, dict[str, float]] = field(default_factory=dict)
    measured_on: dict[str, dict[str, Any]] = field(default_factory=dict)  # per figure: the datasets and sample size
    paired: PairedItems = field(default_factory=lambda: PairedItems())  # both models' right and wrong on the same items


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    inference_ms: float


@dataclass(frozen=True)
class OriginalDataset:
    """A dataset a first model is trained on, stored as a manifest; its splits are fixed by the manifest."""

    dataset_id: str
    classes: list[str]
    architecture: str
    input_spec: dict[str, Any]
    sizes: dict[str, int]


@dataclass(frozen=True)
class IntakeRequest:
    """A team's model coming in: its weights file as given, its architecture, classes, what it said of its input
    (a partial spec, or None) and its stored original dataset, if any."""

    weights: bytes
    architecture: str
    architecture_options: dict[str, Any]
    classes: list[str]
    input_spec: dict[str, Any] | None
    dataset: OriginalDataset | None


@dataclass(frozen=True)
class IntakeReport:
    """The state dict to store, the settled input spec, what was done to get them, and accuracy per split."""

    artifact: bytes
    input_spec: dict[str, Any]
    notes: list[str]
    measured: dict[str, dict[str, Any]]


class ModelIntake(Protocol):
    """Reads a team's weights file, settles the input spec, and measures the model on its datasets."""

    def check_weights(self, weights: bytes, architecture: str, architecture_options: dict[str, Any],
                      classes: list[str]) -> None:
        """ValueError in one sentence unless the file holds weights that load strictly into the architecture: checked
        before any dataset is copied."""
        ...

    def admit(self, request: IntakeRequest) -> IntakeReport:
        """ValueError in one sentence when the file, the architecture, the spec or the outputs do not fit."""
        ...


class DatasetCatalog(Protocol):
    """Stores an original dataset (the bundled digits, or an ImageFolder directory) as a manifest."""

    def attach(self, sources: dict[str, str], classes: list[str]) -> OriginalDataset:
        """A team's own splits (train, validation, test: ImageFolder directories or path,label manifests) stored as
        one original dataset; its input spec holds the images' mode and most common size. ValueError in one
        sentence when a source cannot be read or its labels are not `classes`."""
        ...

    def original(self, source: str, *, seed: int, architecture: str | None = None,
                 input_size: tuple[int, int] | None = None, channels: int | None = None) -> OriginalDataset:
        """Sizes the model's input to the source's images (unless `input_size`, as (height, width), or `channels`
        say otherwise) and checks that `architecture` (None: the catalog's choice) can take them, before storing
        anything; raises ValueError with one sentence when it cannot."""
        ...


class Trainer(Protocol):
    """Fine-tunes or retrains a model on a curated dataset; returns the stored artifact."""

    def train(self, request: TrainingRequest) -> TrainedModel: ...


class Evaluator(Protocol):
    """Measures parent and candidate side by side on the same data and machine."""

    def compare(
        self, parent: ModelRef, candidate: ModelRef, dataset_id: str, original_dataset_id: str | None = None
    ) -> Comparison: ...


class Predictor(Protocol):
    """Loads a version's model and classifies images; checks images and weight files against a model."""

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]: ...

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None: ...

    def check_weights(self, artifact: bytes, architecture: str, input_spec: dict[str, Any], classes: list[str],
                      architecture_options: dict[str, Any] | None = None) -> None: ...


@dataclass(frozen=True)
class ViewDocument:
    """One aggregate as the listings show it, kept in the read models."""

    kind: str  # "version", "campaign" or "rollout"
    aggregate_id: str
    key: str  # the label (v3), campaign number or rollout number users type
    state: str
    active: bool  # a campaign or rollout still under way
    created: int  # the log position of the aggregate's first event: listing order
    document: dict[str, Any]


@dataclass(frozen=True)
class ViewEvent:
    """One event as `retrain history --json` shows it, with what it concerns ("version:v2", "campaign:<id>")."""

    position: int
    event_id: str  # "<aggregate id>:<its version>": how evidence refers to an event
    time: datetime
    aggregate_id: str
    event: str
    concerns: frozenset[str]
    row: dict[str, Any]


class ViewStore(Protocol):
    """The read models: documents and history rows kept beside a log position, all updated in one transaction."""

    def position(self) -> int:
        """The log position the views reflect (0: none)."""
        ...

    def advance(self, start: int, end: int, documents: Sequence[ViewDocument], events: Sequence[ViewEvent]) -> bool:
        """Store these changes and move the position from `start` to `end`, atomically; False, changing nothing,
        when the position is no longer `start` (another process advanced it)."""
        ...

    def reset(self) -> None:
        """Empty the views and set the position back to 0."""
        ...

    def ids(self, kind: str, *, state: str | None = None, active: bool | None = None) -> list[str]:
        """Aggregate ids of that kind, in creation order."""
        ...

    def documents(self, kind: str, *, aggregate_id: str | None = None, active: bool | None = None) -> list[str]:
        """Documents as JSON text, in creation order."""
        ...

    def events(self, *, aggregate_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
               concerns: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None) -> list[str]:
        """History rows as JSON text, in log order: of these aggregates, these events, about all these concerns,
        recorded with a time in [since, until]."""
        ...
