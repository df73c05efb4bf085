"""A crafted feedback file where each exclusion reason of curation (rule 4.3) occurs a known number of times."""

from __future__ import annotations

import base64
import hashlib
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, tzinfo=UTC)
INGESTED_AT = "2026-03-02T00:00:00Z"
CURATED_AT = "2026-03-02T01:00:00Z"
EXCLUDED = {"no_consent": 4, "not_negative": 60, "no_label": 5, "corrupted": 6, "inconsistent": 7, "duplicate": 2}
CORRECTED, FROM_COMMENTS = 40, 3


def png(seed: int) -> bytes:
    """An 8x8 grey PNG of random pixels: distinct per seed, never constant."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("L", (8, 8))
    image.putdata([rng.randrange(256) for _ in range(64)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def constant_png(shade: int = 200) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=shade).save(buffer, format="PNG")
    return buffer.getvalue()


def split_of(image: bytes) -> str:
    """SPEC 4.3's split, computed independently: 20% of 10,000 hash buckets go to validation."""
    return "validation" if int(hashlib.sha256(image).hexdigest()[:16], 16) % 10_000 < 2_000 else "train"


class Feedback:
    """The crafted file: records in time order, one minute apart, each answered when it was served."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.selected_images: list[bytes] = []

    def add(self, image: bytes, *, satisfied: bool = False, consent: bool = True, predicted: str = "0",
            confidence: float = 0.5, **answer: str) -> None:
        index = len(self.records)
        self.records.append({
            "prediction_id": f"p{index:04d}", "timestamp": (T0 + timedelta(minutes=index)).isoformat(),
            "model_version": "v1", "predicted_label": predicted, "confidence": confidence, "inference_ms": 4.0,
            "image_type": "phone", "image": base64.b64encode(image).decode(), "user_feedback": int(satisfied),
            "gdpr_consent": consent, **answer,
        })

    def select(self, image: bytes, **answer: Any) -> None:
        self.selected_images.append(image)
        self.add(image, **answer)


def crafted() -> Feedback:
    """60 satisfied first, then 67 negative answers: the last 100 rated give a satisfaction of 0.33."""
    data, seeds = Feedback(), iter(range(1, 10_000))
    for _ in range(EXCLUDED["not_negative"]):
        data.add(png(next(seeds)), satisfied=True, corrected_label="3")
    originals = [png(next(seeds)) for _ in range(CORRECTED)]
    for image in originals[:EXCLUDED["duplicate"]]:  # the same images answered earlier: the later answers are kept
        data.add(image, corrected_label="1")
    for _ in range(EXCLUDED["no_consent"]):
        data.add(png(next(seeds)), consent=False, corrected_label="3")
    for _ in range(EXCLUDED["no_label"]):
        data.add(png(next(seeds)), comment="image floue")
    for shade in range(EXCLUDED["corrupted"]):  # images that decode but are blank frames (a truncated PNG is
        data.add(constant_png(40 * shade), corrected_label="3")  # refused at ingest; tests/e2e/test_hostile_input.py)
    for label in ["12"] * 4 + ["0"] * 3:  # not a class, or the predicted label itself
        data.add(png(next(seeds)), corrected_label=label)
    for index, image in enumerate(originals):  # 5 per class from 1 to 8: no class is rare
        data.select(image, corrected_label=str(1 + index // 5), confidence=0.97 if index == 39 else 0.5)
    for comment in ("c'est un 9", "should be 9", "label: 9"):
        data.select(png(next(seeds)), comment=comment)
    return data


def prediction(i: int, satisfied: bool | None = None) -> dict:
    """Prediction record `p{i:05d}` of v1 on 2026-03-01 (one a second), rated when `satisfied` is given."""
    record = {"prediction_id": f"p{i:05d}",
              "timestamp": f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
              "model_version": "v1", "predicted_label": "3", "inference_ms": 4.0, "image_type": "scan"}
    if satisfied is not None:
        record["user_feedback"] = int(satisfied)
    return record


def digit_feedback(count: int) -> list[dict]:
    """Real handwritten digits (scikit-learn's), each mispredicted by v1 and corrected by a consenting user."""
    import base64
    import io

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    records = []
    for i in range(count):
        buffer = io.BytesIO()
        Image.fromarray((digits.images[i] * 16).clip(0, 255).astype(np.uint8), "L").save(buffer, format="PNG")
        label = int(digits.target[i])
        records.append({
            "prediction_id": f"q{i:04d}", "timestamp": f"2026-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "model_version": "v1", "predicted_label": str((label + 1) % 10), "confidence": 0.6, "inference_ms": 4.0,
            "image_type": "scan", "image": base64.b64encode(buffer.getvalue()).decode(), "user_ref": f"u{i % 37}",
            "user_feedback": 0, "corrected_label": str(label), "gdpr_consent": True})
    return records
