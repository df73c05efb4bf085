"""Logging served predictions durably: one transaction each, or grouped (many requests, one commit) under load.

Either way the images are stored (content-addressed, renamed into place whole; not fsynced one by one, see
docs/decisions.md) before the rows that name them are committed, and a prediction is acknowledged only once its
row is committed."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import structlog

from application.ports import BlobStore, FeedbackStore
from application.records import PredictionBatch

log = structlog.get_logger()


class DirectLog:
    """Each write is its own transaction (the CLI: one `retrain predict` is one batch)."""

    def __init__(self, feedback: FeedbackStore, blobs: BlobStore) -> None:
        self.feedback = feedback
        self.blobs = blobs

    def write(self, batch: PredictionBatch) -> None:
        if batch.images:
            self.blobs.put_many(batch.images, sync=False)
        self.feedback.add(batch.rows, [])

    def submit(self, batch: PredictionBatch) -> Future[None]:
        future: Future[None] = Future()
        try:
            self.write(batch)
        except Exception as error:  # the caller's future carries it
            future.set_exception(error)
        else:
            future.set_result(None)
        return future


class GroupCommitLog:
    """Requests hand their rows to one writer thread, which stores the images and commits everything pending in one
    transaction, then answers each request: acknowledged only after its commit, and the rate holds under load."""

    def __init__(self, feedback: FeedbackStore, blobs: BlobStore, *, max_batch: int = 1000) -> None:
        self.direct = DirectLog(feedback, blobs)
        self.max_batch = max_batch
        self._pending: queue.Queue[tuple[PredictionBatch, Future[None]] | None] = queue.Queue()
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(self, batch: PredictionBatch) -> Future[None]:
        """A future that completes once these rows are committed (or fails with the commit's error)."""
        future: Future[None] = Future()
        with self._closing:
            if self._closed:
                future.set_exception(RuntimeError("the prediction log is closed"))
            else:
                self._pending.put((batch, future))
        return future

    def write(self, batch: PredictionBatch) -> None:
        self.submit(batch).result()

    def close(self) -> None:
        """Commit what is pending, then stop the writer (SIGTERM drains through here)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._pending.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._pending.get()
            if first is None:
                break
            group = [first]
            rows = len(first[0].rows)
            while rows < self.max_batch:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
                rows += len(item[0].rows)
            self._commit(group)

    def _commit(self, group: list[tuple[PredictionBatch, Future[None]]]) -> None:
        try:
            self.direct.write(PredictionBatch.merge([batch for batch, _ in group]))
        except Exception as error:  # every request of the group is told; none is acknowledged
            log.error("prediction_log_failed", requests=len(group), error=type(error).__name__)
            for _, future in group:
                future.set_exception(error)
            return
        for _, future in group:
            future.set_result(None)
