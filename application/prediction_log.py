"""Logging served predictions durably: one transaction each, or grouped (many requests, one commit) under load."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import structlog

from application.ports import FeedbackStore
from application.records import StoredPrediction

log = structlog.get_logger()


class DirectLog:
    """Each write is its own transaction (the CLI: one `retrain predict` is one batch)."""

    def __init__(self, feedback: FeedbackStore) -> None:
        self.feedback = feedback

    def write(self, predictions: Sequence[StoredPrediction]) -> None:
        self.feedback.add(predictions, [])


class GroupCommitLog:
    """Requests hand their rows to one writer thread, which commits everything pending in one transaction and then
    answers each request: a prediction is acknowledged only after its commit, and the rate holds under load."""

    def __init__(self, feedback: FeedbackStore, *, max_batch: int = 1000) -> None:
        self.feedback = feedback
        self.max_batch = max_batch
        self._pending: queue.Queue[tuple[Sequence[StoredPrediction], Future[None]] | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(self, predictions: Sequence[StoredPrediction]) -> Future[None]:
        """A future that completes once these rows are committed (or fails with the commit's error)."""
        future: Future[None] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the prediction log is closed"))
            return future
        self._pending.put((predictions, future))
        return future

    def write(self, predictions: Sequence[StoredPrediction]) -> None:
        self.submit(predictions).result()

    def close(self) -> None:
        """Commit what is pending, then stop the writer (SIGTERM drains through here)."""
        if not self._closed:
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
            rows = len(first[0])
            while rows < self.max_batch:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
                rows += len(item[0])
            self._commit(group)

    def _commit(self, group: list[tuple[Sequence[StoredPrediction], Future[None]]]) -> None:
        try:
            self.feedback.add([row for rows, _ in group for row in rows], [])
        except Exception as error:  # every request of the group is told; none is acknowledged
            log.error("prediction_log_failed", requests=len(group), error=type(error).__name__)
            for _, future in group:
                future.set_exception(error)
            return
        for _, future in group:
            future.set_result(None)
