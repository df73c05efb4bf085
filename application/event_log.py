"""The event log: the eventsourcing application that stores every aggregate's events, each stamped with the time it
was written, and reads them back, in the order they were recorded or one aggregate as it was known at a moment. The
read models (application/read_models.py) are projected from it, beside the ledger (application/ledger.py), which finds
the aggregates through them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout

PAGE = 1000
RECORDED_AT = "recorded_at"  # stored with every event by the mapper: when it was written


class StampingMapper(Mapper[UUID]):
    """Stores with every event the time it was written (`recorded_at`, the system clock), beside the time the event
    itself carries: a time-driven command run with `--now` says when it happened, the stamp says when it was told."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stamped = object.__new__(type(domain_event))
        object.__setattr__(stamped, "__dict__", {**vars(domain_event), RECORDED_AT: datetime.now(UTC).isoformat()})
        return super().to_stored_event(stamped)


class EventLog(Application[UUID]):
    """Every aggregate's events in one store, read back in order; the ledger is this log with its finders."""

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=StampingMapper)

    def resolve(self, kind: str, ref: str) -> UUID | None:
        """The id a reference names: a version's label (`v3`) or id, a campaign's (`3`, `c3`) or a rollout's
        (`2`, `r2`) number or id."""
        if kind == "version":
            return _as_uuid(ref) or ModelVersion.create_id(ref)
        if kind == "campaign":
            return _as_uuid(ref) or _numbered(ref, "c", RetrainCampaign.create_id)
        return _as_uuid(ref) or _numbered(ref, "r", Rollout.create_id)

    def as_of(self, aggregate_id: UUID, moment: datetime) -> Any:
        """The aggregate as it was known at `moment`: rebuilt from its events recorded up to then (None if none)."""
        version = None
        for stored in self.recorder.select_events(aggregate_id):
            if self.mapper.to_domain_event(stored).timestamp > moment:
                break
            version = stored.originator_version
        return None if version is None else self.repository.get(aggregate_id, version=version)

    def position(self) -> int:
        """The position of the last event recorded (0: none), from which `events_after` reads on."""
        return self.recorder.max_notification_id() or 0

    def events_after(self, position: int) -> Iterator[tuple[int, DomainEventProtocol[Any]]]:
        """Every event recorded after `position`, with its own position, in the order they were recorded."""
        while True:
            page = self.recorder.select_notifications(start=position + 1, limit=PAGE)
            for notification in page:
                yield notification.id, self.mapper.to_domain_event(notification)
            if len(page) < PAGE:
                return
            position = page[-1].id

    def all_events(self) -> Iterator[DomainEventProtocol[Any]]:
        """Every event of every aggregate, in the order they were recorded."""
        start = None
        while True:
            page = self.recorder.select_notifications(start=start, limit=PAGE)
            for notification in page:
                yield self.mapper.to_domain_event(notification)
            if len(page) < PAGE:
                return
            start = page[-1].id + 1


def _as_uuid(ref: str) -> UUID | None:
    try:
        return UUID(ref)
    except ValueError:
        return None


def _numbered(ref: str, prefix: str, create_id: Callable[..., UUID]) -> UUID | None:
    digits = ref[len(prefix):] if ref.lower().startswith(prefix) else ref
    return create_id(number=int(digits)) if digits.isdigit() else None
