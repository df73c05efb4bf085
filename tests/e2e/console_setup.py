"""A home for the web console's browser tests and screenshots: real handwritten digits awaiting review, and a
rollout at 10%, prepared through the CLI as a user would (and, for the candidate's verdict, the application)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import digit_feedback

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
REQUIRED = "RETRAIN_TEST_BROWSER_REQUIRED"
INGESTED_AT = "2026-03-02T00:00:00Z"
CURATED_AT = "2026-03-02T01:00:00Z"


def chromium_or_skip() -> Path:
    """Debian's Chromium, and Playwright to drive it; without them the browser tests skip, unless CI requires them
    (RETRAIN_TEST_BROWSER_REQUIRED=1, set by .ci/run), where they fail."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "Playwright for Python is not installed (pip install -r requirements.lock)"
    else:
        missing = "" if CHROMIUM.is_file() else f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if missing:
        if os.environ.get(REQUIRED):
            pytest.fail(f"the web console's browser tests need a browser: {missing}")
        pytest.skip(f"the web console's browser tests need a browser: {missing}")
    return CHROMIUM


def reviewed_digits(count: int) -> list[dict[str, Any]]:
    """Real digits v1 got wrong; every third user wrote the label in a comment (so a reviewer must check it), one
    was sure of the wrong answer at 97%, the others corrected the label."""
    records = digit_feedback(count)
    for index, record in enumerate(records):
        if index % 3 == 0:
            label = record.pop("corrected_label")
            record["comment"] = f"image floue, c'est un {label}" if index % 2 else f"wrong, it's a {label}"
        if index == 4:
            record["confidence"] = 0.97
    return records


def console_home(root: Path, weights: Path, *, count: int = 120) -> Path:
    """v1 in production; feedback that breaches satisfaction; campaign 1 curated and awaiting review."""
    home = root / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z")
    assert registered.returncode == 0, registered.stderr
    records = root / "feedback.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in reviewed_digits(count)))
    ingested = run(home, "ingest", str(records), "--now", INGESTED_AT)
    assert ingested.returncode == 0, ingested.stderr
    ticked = run(home, "tick", "--now", CURATED_AT)
    assert ticked.returncode == 0, ticked.stderr
    [campaign] = json.loads(run(home, "campaigns", "--json").stdout)
    assert campaign["state"] == "awaiting_review", campaign
    return home


def start_rollout(home: Path, weights: Path) -> None:
    """v2 registered, validated against v1 and rolled out at 10% (the verdict recorded through the application)."""
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
                     "--allow-duplicate")
    assert registered.returncode == 0, registered.stderr
    from adapters.clock import SystemClock
    from application.settings import load_settings
    from bootstrap import Container

    container = Container(load_settings(home=home), SystemClock())
    try:
        v1, v2 = container.ledger.version("v1"), container.ledger.version("v2")
        v2.validate(parent_id=str(v1.id), gates=[], figures={}, actor="user:test", timestamp=datetime.now(UTC))
        container.ledger.save(v2)
        container.retrain.rollouts.start("v2", actor="user:test")
    finally:
        container.close()


def rollout_with_traffic(root: Path, weights: Path) -> Path:
    """v1 in production; v2 rolled out at 10% twelve hours ago, and served for its first six hours: 40 predictions
    an hour, 32 of them rated satisfied, against v1's 120, 100 satisfied (the candidate a little worse, not
    confidently)."""
    home = root / "home"
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
    for label, production in (("v1", True), ("v2", False)):
        registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                         CLASSES, *(["--production", "--baseline-ms", "4"] if production else ["--allow-duplicate"]),
                         "--now", (started - timedelta(days=1)).isoformat())
        assert registered.returncode == 0, (label, registered.stderr)
    from adapters.clock import SimulatedClock
    from application.settings import load_settings
    from bootstrap import Container

    container = Container(load_settings(home=home), SimulatedClock(started))
    try:
        v1, v2 = container.ledger.version("v1"), container.ledger.version("v2")
        v2.validate(parent_id=str(v1.id), gates=[], figures={}, actor="user:test", timestamp=started)
        container.ledger.save(v2)
        container.retrain.rollouts.start("v2", actor="user:test")
    finally:
        container.close()
    serve_hours(home, started, range(1, 7), candidate_satisfied=32)
    return home


def serve_hours(home: Path, started: datetime, hours: range, *, candidate_satisfied: int) -> None:
    """Each hour after `started`: v2 serves 40 predictions, `candidate_satisfied` of them rated satisfied, v1 120,
    100 satisfied; ingested through the CLI."""
    records = []
    for hour in hours:
        for version, count, satisfied in (("v2", 40, candidate_satisfied), ("v1", 120, 100)):
            for index in range(count):
                records.append({"prediction_id": f"{version}-{hour}-{index}", "model_version": version,
                                "timestamp": (started + timedelta(hours=hour, seconds=index)).isoformat(),
                                "predicted_label": "3", "confidence": 0.9, "inference_ms": 4.0 + index % 3,
                                "image_type": "scan", "user_feedback": int(index < satisfied), "gdpr_consent": True})
    served = home.parent / f"served-{hours.start}.jsonl"
    served.write_text("".join(json.dumps(r) + "\n" for r in records))
    ingested = run(home, "ingest", str(served))
    assert ingested.returncode == 0, ingested.stderr
