"""Records the feedback store keeps (SPEC section 2), as the application sees them after validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple


class StoredPrediction(NamedTuple):
    """A served prediction, resolved to a version id (a named tuple: ingestion makes millions of them)."""

    prediction_id: str
    version_id: str
    timestamp: datetime
    predicted_label: str
    inference_ms: float | None = None
    status: Literal["ok", "error"] = "ok"
    confidence: float | None = None
    image_type: str = "unknown"
    image_sha256: str | None = None
    user_ref: str | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class PredictionBatch:
    """Served predictions to log, with their images: the images are stored before the rows are committed."""

    rows: Sequence[StoredPrediction]
    images: Sequence[bytes] = ()


@dataclass(frozen=True)
class KnownPrediction:
    """What ingestion needs to know of a prediction already stored: its content and its version."""

    fingerprint: str
    version_id: str


class StoredFeedback(NamedTuple):
    """A user's answer to a prediction; a later one replaces the earlier for every metric (both are kept)."""

    prediction_id: str
    user_feedback: int | None
    feedback_at: datetime
    comment: str | None = None
    corrected_label: str | None = None
    gdpr_consent: bool = False
    fingerprint: str = ""


@dataclass(frozen=True)
class RatedOutcome:
    """One prediction's latest feedback, as a window sees it."""

    timestamp: datetime
    satisfied: bool


@dataclass(frozen=True)
class ReviewItem:
    """A critical curated item waiting for (or having) a human decision."""

    campaign_id: str
    item: str
    prediction_id: str
    label: str
    label_source: str
    reasons: tuple[str, ...]
    image_sha256: str
    decision: str | None = None
    decided_label: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class ReviewContext:
    """What a reviewer reads beside an item's image: the prediction as served and the user's latest answer."""

    prediction_id: str
    predicted_label: str
    confidence: float | None
    image_type: str
    served_at: datetime
    comment: str | None
    corrected_label: str | None
    feedback_at: datetime | None
    consent: bool


@dataclass(frozen=True)
class DailySatisfaction:
    """One version's rated predictions of one image type served on one day (UTC), by their latest answer."""

    version_id: str
    image_type: str
    day: date
    rated: int
    satisfied: int
