"""Shared pieces of the benchmarks: synthetic traffic and a home with a registered v1."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.torch.models import build_model, state_dict_bytes
from application.settings import load_settings
from bootstrap import Container, build_clock

START = datetime(2026, 3, 1, tzinfo=UTC)
COMMENTS = ("image floue", "mauvais", "c'est un 7", "wrong label", "pas terrible")


def records(count: int, *, seed: int = 0, rated_every: int = 5, start: datetime = START, seconds: int = 28 * 86_400,
            prefix: str = "p") -> Iterator[dict]:
    """`count` predictions of v1 over `seconds` from `start` (28 days from 2026-03-01), one in `rated_every` with
    inline feedback, some errors and comments."""
    rng = random.Random(seed)
    for i in range(count):
        at = start + timedelta(seconds=i * seconds // count)
        record = {
            "prediction_id": f"{prefix}{i:09d}",
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model_version": "v1", "predicted_label": str(i % 10), "confidence": round(rng.random(), 3),
            "image_type": "phone" if i % 3 else "scan",
        }
        if rng.random() < 0.02:
            record["status"] = "error"
        else:
            record["inference_ms"] = round(4 + rng.random() * 2, 3)
        if i % rated_every == 0:
            satisfied = rng.random() < 0.8
            record["user_feedback"] = int(satisfied)
            record["gdpr_consent"] = True
            if not satisfied and rng.random() < 0.3:
                record["comment"] = rng.choice(COMMENTS)
        yield record


def write_records(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        for record in records(count):
            handle.write(json.dumps(record) + "\n")
    return path


def home_with_v1(home: Path, **stores: str) -> Container:
    """A fresh home with an untrained digits-cnn registered as production v1 (weights do not matter here);
    `stores`: RETRAIN_EVENT_STORE / RETRAIN_FEEDBACK_STORE URLs to use instead of the home's SQLite files."""
    settings = {name.removeprefix("RETRAIN_").lower(): url for name, url in stores.items()}
    container = Container(load_settings(home=home, **settings), build_clock("2026-02-01T00:00:00+00:00"))
    container.models.register(
        weights=state_dict_bytes(build_model("digits-cnn", 10)), architecture="digits-cnn",
        classes=[str(d) for d in range(10)], input_spec={"mode": "L", "size": [8, 8], "mean": [0.5], "std": [0.5]},
        baseline_ms=5.0, production=True, actor="user:benchmark",
    )
    return container
