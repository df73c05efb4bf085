"""The feedback store's ports: predictions, feedback and review items, high-volume data kept out of the event
streams. Each use case is given the role it uses (intake, traffic statistics, the console's figures, curation and
review, user data); `FeedbackStore` is every role at once, as one database implements them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
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
from domain.rules.curation import Candidate
from domain.rules.phase_health import PhaseStats


class RowEncoder(Protocol):
    """Pure functions that turn validated records into a writer's rows. Ingestion runs them in its parsing workers,
    so they read nothing but their arguments, and the encoder pickles (an instance of a module-level class)."""

    def prediction(self, prediction: StoredPrediction, answer: StoredFeedback | None) -> tuple[Any, Any]:
        """A new prediction's row, and its own answer's (or None)."""
        ...

    def feedback(self, answer: StoredFeedback) -> Any:
        """A later answer's row, which also makes it its prediction's latest answer when it is."""
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


class ImageReferences(Protocol):
    """Which images the stored records still name: what may leave the blob store (after erasure, or a batch that
    was not written)."""

    def images_in_use(self, image_sha256s: Sequence[str]) -> set[str]:
        """Those of these images that a remaining prediction or review item still refers to."""
        ...


class FeedbackIntake(ImageReferences, Protocol):
    """Predictions and feedback coming in: ingestion's transactions and the serving log's rows."""

    def writer(self, *, exclusive: bool = False) -> AbstractContextManager[FeedbackWriter]:
        """One transaction; `exclusive` ones (ingestion) run one at a time, so that checking what is stored and
        writing what is new cannot interleave with another process's."""
        ...

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None: ...


class TrafficStatistics(Protocol):
    """The served traffic counted over windows: the triggers' figures (rule 4.1) and the rollout's phases (4.7)."""

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


class ReviewQueue(Protocol):
    """Curation's candidates (rule 4.3) and a campaign's review items with their decisions."""

    def curation_candidates(self, version_ids: Sequence[str], *, since: datetime | None,
                            as_of: datetime) -> list[Candidate]: ...

    def save_review_items(self, items: Sequence[ReviewItem]) -> None: ...

    def review_items(self, campaign_id: str) -> list[ReviewItem]: ...

    def decide_review_item(self, campaign_id: str, item: str, *, decision: str, label: str | None,
                           actor: str) -> None: ...


class ConsoleFigures(Protocol):
    """What the web console (SPEC 5.3) reads of the stored traffic: its satisfaction chart and review page."""

    def daily_satisfaction(self, *, until: datetime | None = None) -> list[DailySatisfaction]:
        """Rated predictions per version, image type and day served, each counted by its latest feedback given by
        `until` (all of them without it)."""
        ...

    def review_context(self, prediction_ids: Sequence[str]) -> dict[str, ReviewContext]:
        """These predictions as served, each with its latest feedback (the web console's review page)."""
        ...


class UserData(ImageReferences, Protocol):
    """One user's stored predictions, and their erasure (SPEC 7)."""

    def user_predictions(self, user_ref: str) -> list[tuple[str, str | None]]:
        """The prediction ids and image hashes of one user's predictions (SPEC 7, erasure)."""
        ...

    def erase(self, prediction_ids: Sequence[str]) -> dict[str, int]:
        """Delete these predictions, their feedback and their review items, in one transaction, leaving no readable
        trace in the store's files; returns how many of each were deleted."""
        ...


class FeedbackStore(FeedbackIntake, TrafficStatistics, ReviewQueue, ConsoleFigures, UserData, Protocol):
    """Predictions, feedback and review items: every role in one database. Only what hands the roles out needs
    all of them (the composition root, `Retrain`); it declares nothing of its own."""


class PredictionLog(Protocol):
    """Where served predictions are logged: `write` stores the images, then commits the rows in one transaction."""

    def write(self, batch: PredictionBatch) -> None: ...


class StoreUnavailable(RuntimeError):
    """The event store's or the feedback store's database cannot be reached (one sentence naming it)."""
