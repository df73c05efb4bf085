"""Logging served predictions durably: one transaction per batch (a `retrain predict`, or the requests a server
classified together).

The images are stored (content-addressed, renamed into place whole; not fsynced one by one, see
docs/decisions.md) before the rows that name them are committed, and a prediction is acknowledged only once its
row is committed."""

from __future__ import annotations

from application.ports import BlobStore, FeedbackIntake
from application.records import PredictionBatch


class DirectLog:
    """Each write is one transaction: the images are stored, then the rows committed."""

    def __init__(self, feedback: FeedbackIntake, blobs: BlobStore) -> None:
        self.feedback = feedback
        self.blobs = blobs

    def write(self, batch: PredictionBatch) -> None:
        if batch.images:
            self.blobs.put_many(batch.images, sync=False)
        self.feedback.add(batch.rows, [])
