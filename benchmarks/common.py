"""Shared pieces of the benchmarks: synthetic traffic and a home with a registered v1."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from adapters.torch.models import build_model, state_dict_bytes
from application.settings import load_settings
from bootstrap import Container, build_clock

COMMENTS = ("image floue", "mauvais", "c'est un 7", "wrong label", "pas terrible")


def records(count: int, *, seed: int = 0, rated_every: int = 5) -> Iterator[dict]:
    """`count` predictions of v1 over 28 days, one in `rated_every` with inline feedback, some errors and comments."""
    rng = random.Random(seed)
    seconds = 28 * 86_400
    for i in range(count):
        at = i * seconds // count
        day, rest = divmod(at, 86_400)
        record = {
            "prediction_id": f"p{i:09d}",
            "timestamp": f"2026-03-{1 + day:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}Z",
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
