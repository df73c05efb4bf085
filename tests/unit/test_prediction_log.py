"""The prediction log: images stored before the rows that name them, and a prediction acknowledged only once its row
is committed, whether each write is its own transaction or many requests share one commit."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from application.prediction_log import DirectLog, GroupCommitLog
from application.records import PredictionBatch, StoredFeedback, StoredPrediction
from tests.fakes import InMemoryBlobStore, InMemoryFeedbackStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WAIT = 5.0  # seconds: a bound on waiting for the writer thread, never a pause


class RecordingBlobStore(InMemoryBlobStore):
    """Notes each `put_many` (with its `sync`) in the shared journal; fails when told to."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal
        self.syncs: list[bool] = []
        self.failure: Exception | None = None

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        if self.failure is not None:
            raise self.failure
        self.journal.append(f"images:{len(blobs)}")
        self.syncs.append(sync)
        return super().put_many(blobs, sync=sync)


class GatedFeedbackStore(InMemoryFeedbackStore):
    """Commits wait at a gate (open unless closed by the test); the commits numbered in `failures` raise."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.commits: list[list[str]] = []
        self.failures: dict[int, Exception] = {}
        self.calls = 0

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        self.calls += 1
        call = self.calls
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        if call in self.failures:
            raise self.failures[call]
        self.journal.append(f"rows:{len(predictions)}")
        self.commits.append([p.prediction_id for p in predictions])
        super().add(predictions, feedback)


def batch(*ids: str, with_images: bool = True) -> PredictionBatch:
    rows = [StoredPrediction(pid, "version-id", T0, "3", 1.0, "ok", 0.9, "unknown",
                             hashlib.sha256(pid.encode()).hexdigest() if with_images else None) for pid in ids]
    return PredictionBatch(rows, [pid.encode() for pid in ids] if with_images else [])


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def blobs(journal: list[str]) -> RecordingBlobStore:
    return RecordingBlobStore(journal)


@pytest.fixture
def store(journal: list[str]) -> GatedFeedbackStore:
    return GatedFeedbackStore(journal)


@pytest.fixture
def group(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> Iterator[GroupCommitLog]:
    log = GroupCommitLog(store, blobs)
    yield log
    store.gate.set()
    log.close()


def hold_the_writer(store: GatedFeedbackStore, log: GroupCommitLog) -> Future[None]:
    """The writer thread is stopped inside its first commit, so what is submitted next waits for it together."""
    store.gate.clear()
    first = log.submit(batch("first"))
    assert store.entered.wait(WAIT)
    return first


# -- one transaction per write ------------------------------------------------------------------------------
def test_a_direct_write_stores_the_images_unsynced_before_committing_the_rows(
    store: GatedFeedbackStore, blobs: RecordingBlobStore, journal: list[str]
) -> None:
    DirectLog(store, blobs).write(batch("a", "b"))
    assert journal == ["images:2", "rows:2"]
    assert blobs.syncs == [False]
    assert store.commits == [["a", "b"]]
    assert blobs.has(hashlib.sha256(b"a").hexdigest())


def test_a_direct_write_without_images_only_commits_the_rows(
    store: GatedFeedbackStore, blobs: RecordingBlobStore, journal: list[str]
) -> None:
    DirectLog(store, blobs).write(batch("a", with_images=False))
    assert journal == ["rows:1"]


def test_rows_are_not_committed_when_their_images_cannot_be_stored(
    store: GatedFeedbackStore, blobs: RecordingBlobStore
) -> None:
    blobs.failure = OSError("no space left on device")
    with pytest.raises(OSError, match="no space left"):
        DirectLog(store, blobs).write(batch("a"))
    assert store.predictions == {}


def test_a_direct_submit_is_acknowledged_once_committed(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> None:
    future = DirectLog(store, blobs).submit(batch("a"))
    assert future.done() and future.result() is None
    assert "a" in store.predictions


def test_a_direct_submit_carries_the_commits_failure(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> None:
    store.failures[1] = RuntimeError("database is locked")
    future = DirectLog(store, blobs).submit(batch("a"))
    with pytest.raises(RuntimeError, match="database is locked"):
        future.result(timeout=0)


# -- many requests, one commit ------------------------------------------------------------------------------
def test_a_request_is_acknowledged_only_after_its_commit(group: GroupCommitLog, store: GatedFeedbackStore) -> None:
    first = hold_the_writer(store, group)
    assert not first.done()
    assert store.predictions == {}
    store.gate.set()
    assert first.result(timeout=WAIT) is None
    assert "first" in store.predictions


def test_requests_that_arrive_during_a_commit_share_the_next_one(
    group: GroupCommitLog, store: GatedFeedbackStore, blobs: RecordingBlobStore, journal: list[str]
) -> None:
    first = hold_the_writer(store, group)
    later = [group.submit(batch(f"r{i}")) for i in range(3)]
    store.gate.set()
    assert [f.result(timeout=WAIT) for f in [first, *later]] == [None] * 4
    assert store.commits == [["first"], ["r0", "r1", "r2"]]
    assert journal == ["images:1", "rows:1", "images:3", "rows:3"]
    assert blobs.syncs == [False, False]


def test_a_group_stops_growing_at_max_batch_rows(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> None:
    log = GroupCommitLog(store, blobs, max_batch=3)
    try:
        first = hold_the_writer(store, log)
        later = [log.submit(batch(f"r{i}", f"s{i}")) for i in range(3)]
        store.gate.set()
        for future in [first, *later]:
            future.result(timeout=WAIT)
    finally:
        store.gate.set()
        log.close()
    assert [len(rows) for rows in store.commits] == [1, 4, 2]


def test_a_failed_commit_fails_every_request_of_its_group_and_acknowledges_none(
    group: GroupCommitLog, store: GatedFeedbackStore
) -> None:
    store.failures[2] = OSError("disk I/O error")
    first = hold_the_writer(store, group)
    later = [group.submit(batch(f"r{i}")) for i in range(3)]
    store.gate.set()
    assert first.result(timeout=WAIT) is None
    for future in later:
        with pytest.raises(OSError, match="disk I/O error"):
            future.result(timeout=WAIT)
    assert sorted(store.predictions) == ["first"]


def test_the_log_keeps_committing_after_a_failed_group(group: GroupCommitLog, store: GatedFeedbackStore) -> None:
    store.failures[1] = OSError("disk I/O error")
    with pytest.raises(OSError):
        group.submit(batch("lost")).result(timeout=WAIT)
    group.write(batch("kept"))
    assert sorted(store.predictions) == ["kept"]


def test_write_returns_once_the_rows_are_committed(group: GroupCommitLog, store: GatedFeedbackStore) -> None:
    group.write(batch("a", "b"))
    assert sorted(store.predictions) == ["a", "b"]


def test_closing_commits_what_is_pending(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> None:
    log = GroupCommitLog(store, blobs)
    futures = [log.submit(batch(f"r{i}")) for i in range(20)]
    log.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert sorted(store.predictions) == sorted(f"r{i}" for i in range(20))


def test_a_request_after_close_fails_and_is_not_committed(store: GatedFeedbackStore, blobs: RecordingBlobStore) -> None:
    log = GroupCommitLog(store, blobs)
    log.close()
    future = log.submit(batch("late"))
    with pytest.raises(RuntimeError, match="closed"):
        future.result(timeout=0)
    assert store.predictions == {}
    log.close()  # closing twice is harmless
