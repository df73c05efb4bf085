"""Erasure: a user's personal data deleted at their request (SPEC 7), recorded with counts only."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event


class Erasure(Aggregate):
    """One `retrain forget`: what was deleted and what had already been consumed, as counts. The event names
    nobody: the user's reference is never recorded, so the log needs no rewriting."""

    TOPIC = "retrain.Erasure"

    class Event(Aggregate.Event):
        actor: str

    class Created(Event, Aggregate.Created):
        TOPIC = "retrain.Erasure.Created"

    class ErasureRecorded(Created):
        TOPIC = "retrain.Erasure.ErasureRecorded"
        predictions: int
        images: int
        datasets_amended: int
        datasets_consumed: int
        versions_consumed: int

    @event(ErasureRecorded)
    def __init__(
        self, *, predictions: int, images: int, datasets_amended: int, datasets_consumed: int,
        versions_consumed: int, actor: str, timestamp: datetime,
    ) -> None:
        self.counts = {
            "predictions": predictions, "images": images, "datasets_amended": datasets_amended,
            "datasets_consumed": datasets_consumed, "versions_consumed": versions_consumed,
        }
