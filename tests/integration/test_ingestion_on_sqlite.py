"""Ingestion through the SQLite store shows what the in-memory store shows: each prediction's latest answer when a
batch answers its own and earlier predictions (ties, answers dated before the inline one), in chunks of any size and
through the parsing workers; re-sent records are duplicates and a mixed chunk keeps its new records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import application.ingestion as ingestion
from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def record(pid: str, **fields: object) -> str:
    base = {"prediction_id": pid, "timestamp": "2026-01-01T10:00:00+00:00", "model_version": "v1",
            "predicted_label": "3", "inference_ms": 4.5}
    return json.dumps({**base, **fields})


def answer(pid: str, value: int, at: str, **fields: object) -> str:
    return json.dumps({"prediction_id": pid, "user_feedback": value, "timestamp": at, **fields})


FIRST = [
    record("a", user_feedback=1), record("b"), answer("a", 0, "2026-01-01T09:00:00Z"),  # dated before: not latest
    answer("b", 0, "2026-01-01T11:00:00Z", comment="flou"), answer("b", 1, "2026-01-01T11:00:00Z"),  # tie: later
    record("c", user_feedback=0, feedback_at="2026-01-02T00:00:00Z", comment="mauvais"),
    answer("c", 1, "2026-01-01T12:00:00Z"), *[record(f"p{i}", user_feedback=i % 2) for i in range(12)],
]
SECOND = [answer("a", 0, "2026-01-03T00:00:00Z"), record("d"), record("p3", user_feedback=1),
          record("e", user_feedback=1)]


def outcome(harness: Harness) -> tuple[list[tuple[datetime, bool]], tuple[int, ...], tuple[int, ...]]:
    harness.register()
    first = harness.app.ingestion.ingest(FIRST, workers=harness.workers)  # type: ignore[attr-defined]
    second = harness.app.ingestion.ingest(SECOND, workers=harness.workers)  # type: ignore[attr-defined]
    version = str(harness.app.ledger.version("v1").id)
    rated = harness.feedback.rated_outcomes(version, as_of=LATER, limit=1000)
    counts = [(r.predictions, r.feedback, r.duplicates, r.rejected) for r in (first, second)]
    return [(o.timestamp, o.satisfied) for o in rated], *counts  # type: ignore[return-value]


@pytest.mark.parametrize(("chunk", "workers"), [(2, 0), (5, 2), (5_000, 0)])
def test_the_sqlite_store_shows_the_latest_answers_the_in_memory_store_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, workers: int) -> None:
    monkeypatch.setattr(ingestion, "CHUNK", chunk)
    memory = build_harness()
    memory.workers = workers  # type: ignore[attr-defined]
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    try:
        sqlite = build_harness(feedback=store, blobs=FilesystemBlobStore(tmp_path / "blobs"),
                               ledger=sql_ledger(f"sqlite:///{tmp_path / 'events.db'}", store))
        sqlite.workers = workers  # type: ignore[attr-defined]
        expected, ours = outcome(memory), outcome(sqlite)
    finally:
        store.close()
    assert ours == expected
    rated, first, second = ours
    assert first == (15, 18, 0, 0) and second == (2, 2, 1, 0)  # p3 sent again: a duplicate
    # 16 rated (d is not); satisfied: b (the later of two answers at 11:00), p1, p3, ..., p11 and e; not a (its
    # answer of 2026-01-03 is its latest) nor c (its inline answer is dated after the other)
    assert (len(rated), sum(satisfied for _, satisfied in rated)) == (16, 8)


CORRECTED = [record("b", user_feedback=0), answer("b", 1, "2026-01-01T11:00:00Z"),  # re-sent after the correction
             record("p4", user_feedback=1, predicted_label="4"), record("f"), answer("c", 0, "2026-01-04T00:00:00Z")]


def corrected(harness: Harness) -> tuple[list[tuple[datetime, bool]], tuple[int, ...]]:
    outcome(harness)
    report = harness.app.ingestion.ingest(CORRECTED, workers=harness.workers, replace=True)  # type: ignore[attr-defined]
    version = str(harness.app.ledger.version("v1").id)
    rated = harness.feedback.rated_outcomes(version, as_of=LATER, limit=1000)
    return [(o.timestamp, o.satisfied) for o in rated], (report.predictions, report.feedback, report.duplicates,
                                                         report.replaced)


@pytest.mark.parametrize(("chunk", "workers"), [(1, 0), (2, 2), (5_000, 0)])
def test_the_sqlite_store_shows_replaced_records_as_the_in_memory_store_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, workers: int) -> None:
    monkeypatch.setattr(ingestion, "CHUNK", chunk)
    memory = build_harness()
    memory.workers = workers  # type: ignore[attr-defined]
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    try:
        sqlite = build_harness(feedback=store, blobs=FilesystemBlobStore(tmp_path / "blobs"),
                               ledger=sql_ledger(f"sqlite:///{tmp_path / 'events.db'}", store))
        sqlite.workers = workers  # type: ignore[attr-defined]
        expected, ours = corrected(memory), corrected(sqlite)
    finally:
        store.close()
    assert ours == expected
    rated, counts = ours
    assert counts == (1, 2, 0, 2)  # f new; b's answer stored again after b's correction, and c's new answer
    # as before, but p4 now satisfied; b's latest is its re-sent answer (1); c's latest is the new 0
    assert (len(rated), sum(satisfied for _, satisfied in rated)) == (16, 9)
