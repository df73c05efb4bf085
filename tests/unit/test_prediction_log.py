"""The prediction log: each write is one transaction, the images stored before the rows that name them, and a
prediction acknowledged only once its row is committed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from application.prediction_log import DirectLog
from application.records import PredictionBatch, StoredFeedback, StoredPrediction
from tests.fakes import InMemoryBlobStore, InMemoryFeedbackStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


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


class RecordingFeedbackStore(InMemoryFeedbackStore):
    """Notes each commit in the shared journal (and its prediction ids); the commits numbered in `failures` raise."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal
        self.commits: list[list[str]] = []
        self.failures: dict[int, Exception] = {}
        self.calls = 0

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        self.calls += 1
        if self.calls in self.failures:
            raise self.failures[self.calls]
        self.journal.append(f"rows:{len(predictions)}")
        self.commits.append([p.prediction_id for p in predictions])
        super().add(predictions, feedback)


def batch(*ids: str, with_images: bool = True) -> PredictionBatch:
    rows = [StoredPrediction(pid, "version-id", T0, "3", 1.0, "ok", 0.9, "unknown",
                             hashlib.sha256(pid.encode()).hexdigest() if with_images else None) for pid in ids]
    return PredictionBatch(rows, [pid.encode() for pid in ids] if with_images else [])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def blobs(journal: list[str]) -> RecordingBlobStore:
    return RecordingBlobStore(journal)


@pytest.fixture
def store(journal: list[str]) -> RecordingFeedbackStore:
    return RecordingFeedbackStore(journal)


@pytest.fixture
def log(store: RecordingFeedbackStore, blobs: RecordingBlobStore) -> DirectLog:
    return DirectLog(store, blobs)


# -- write: one transaction -----------------------------------------------------------------------------------
def test_a_write_stores_the_images_unsynced_before_committing_the_rows_in_one_transaction(
    log: DirectLog, store: RecordingFeedbackStore, blobs: RecordingBlobStore, journal: list[str]
) -> None:
    log.write(batch("a", "b", "c"))
    assert journal == ["images:3", "rows:3"]
    assert blobs.syncs == [False]
    assert store.commits == [["a", "b", "c"]]
    assert all(blobs.has(sha(pid)) for pid in (b"a", b"b", b"c"))
    assert store.predictions["b"].image_sha256 == sha(b"b")


def test_a_write_without_images_only_commits_the_rows(log: DirectLog, journal: list[str]) -> None:
    log.write(batch("a", with_images=False))
    assert journal == ["rows:1"]


def test_each_write_is_its_own_transaction(log: DirectLog, store: RecordingFeedbackStore) -> None:
    log.write(batch("a"))
    log.write(batch("b", "c"))
    assert store.commits == [["a"], ["b", "c"]]


def test_rows_are_not_committed_when_their_images_cannot_be_stored(
    log: DirectLog, store: RecordingFeedbackStore, blobs: RecordingBlobStore
) -> None:
    blobs.failure = OSError("no space left on device")
    with pytest.raises(OSError, match="no space left"):
        log.write(batch("a"))
    assert (store.calls, store.predictions) == (0, {})


def test_a_failed_commit_is_raised_and_commits_none_of_the_rows(
    log: DirectLog, store: RecordingFeedbackStore, blobs: RecordingBlobStore
) -> None:
    store.failures[1] = OSError("disk I/O error")
    with pytest.raises(OSError, match="disk I/O error"):
        log.write(batch("a", "b"))
    assert store.predictions == {}
    assert blobs.has(sha(b"a"))  # stored first: an image no row names yet is harmless


def test_the_log_keeps_committing_after_a_failed_write(log: DirectLog, store: RecordingFeedbackStore) -> None:
    store.failures[1] = OSError("disk I/O error")
    with pytest.raises(OSError):
        log.write(batch("lost"))
    log.write(batch("kept"))
    assert sorted(store.predictions) == ["kept"]


