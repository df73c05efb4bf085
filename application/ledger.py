"""The ledger: the event-sourced application that stores every aggregate, and finds them by label or number."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from application.ports import ViewStore
from application.read_models import KINDS, RECORDED_AT, InMemoryViewStore, ReadModels
from domain.errors import NotFound
from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout

T = TypeVar("T")
PAGE = 1000


class StampingMapper(Mapper[UUID]):
    """Stores with every event the time it was written (`recorded_at`, the system clock), beside the time the event
    itself carries: a time-driven command run with `--now` says when it happened, the stamp says when it was told."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stamped = object.__new__(type(domain_event))
        object.__setattr__(stamped, "__dict__", {**vars(domain_event), RECORDED_AT: datetime.now(UTC).isoformat()})
        return super().to_stored_event(stamped)


class Ledger(Application[UUID]):
    """One event store for the three aggregates, so a decision touching several is saved atomically."""

    name = "retrain"
    snapshotting_intervals = {ModelVersion: 100, RetrainCampaign: 100, Rollout: 100}

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=StampingMapper)

    def __init__(self, *, env: dict[str, str], views: ViewStore | None = None) -> None:
        """`views`: where the read models live (in memory when not given: fit for an in-memory event store)."""
        super().__init__(env=env)
        self.read = ReadModels(self, views if views is not None else InMemoryViewStore())

    # -- writing ------------------------------------------------------------------------------------
    def retrying(self, command: Callable[[], T], attempts: int = 5) -> T:
        """Run a get-decide-save command, again if another process saved first (optimistic concurrency)."""
        for attempt in range(attempts):
            try:
                return command()
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- finding ------------------------------------------------------------------------------------
    def _get(self, aggregate_id: UUID | None, kind: type[T], name: str) -> T:
        """The aggregate of that id and kind, or NotFound naming what was asked for."""
        try:
            aggregate = self.repository.get(aggregate_id) if aggregate_id is not None else None
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            raise NotFound(f"no {name}")
        return aggregate

    def as_of(self, aggregate_id: UUID, moment: datetime) -> Any:
        """The aggregate as it was known at `moment`: rebuilt from its events recorded up to then (None if none)."""
        version = None
        for stored in self.recorder.select_events(aggregate_id):
            if self.mapper.to_domain_event(stored).timestamp > moment:
                break
            version = stored.originator_version
        return None if version is None else self.repository.get(aggregate_id, version=version)

    def _all(self, kind: type[T], name: str, as_of: datetime | None, **where: Any) -> list[T]:
        ids = [UUID(i) for i in self.read.ids(KINDS[kind], **where)]
        if as_of is None:
            return [self._get(i, kind, name) for i in ids]
        return [found for i in ids if isinstance(found := self.as_of(i, as_of), kind)]

    def resolve(self, kind: str, ref: str) -> UUID | None:
        """The id a reference names: a version's label (`v3`) or id, a campaign's (`3`, `c3`) or a rollout's
        (`2`, `r2`) number or id."""
        if kind == "version":
            return _as_uuid(ref) or ModelVersion.create_id(ref)
        if kind == "campaign":
            return _as_uuid(ref) or _numbered(ref, "c", RetrainCampaign.create_id)
        return _as_uuid(ref) or _numbered(ref, "r", Rollout.create_id)

    def version(self, ref: str) -> ModelVersion:
        """A version by label (`v3`) or id."""
        return self._get(self.resolve("version", ref), ModelVersion, f"model version {ref!r}")

    def versions(self, as_of: datetime | None = None) -> list[ModelVersion]:
        return self._all(ModelVersion, "model version", as_of)

    def next_version_label(self) -> str:
        return f"v{len(self.read.ids('version')) + 1}"

    def production(self) -> ModelVersion | None:
        return next(iter(self._all(ModelVersion, "model version", None, state="production")), None)

    def campaign(self, ref: str) -> RetrainCampaign:
        """A campaign by number (`3`, `c3`) or id."""
        return self._get(self.resolve("campaign", ref), RetrainCampaign, f"campaign {ref!r}")

    def campaigns(self, as_of: datetime | None = None) -> list[RetrainCampaign]:
        return self._all(RetrainCampaign, "campaign", as_of)

    def open_campaign_for(self, version_id: str) -> RetrainCampaign | None:
        active = self._all(RetrainCampaign, "campaign", None, active=True)
        return next((c for c in active if c.version_id == version_id), None)

    def last_campaign_for(self, version_id: str) -> RetrainCampaign | None:
        """The latest campaign opened on that version, whatever its state (looked for from the newest)."""
        for campaign_id in reversed(self.read.ids("campaign")):
            campaign = self._get(UUID(campaign_id), RetrainCampaign, "campaign")
            if campaign.version_id == version_id:
                return campaign
        return None

    def next_campaign_number(self) -> int:
        return len(self.read.ids("campaign")) + 1

    def rollout(self, ref: str) -> Rollout:
        """A rollout by number (`2`, `r2`) or id."""
        return self._get(self.resolve("rollout", ref), Rollout, f"rollout {ref!r}")

    def rollouts(self, as_of: datetime | None = None) -> list[Rollout]:
        return self._all(Rollout, "rollout", as_of)

    def active_rollout(self, as_of: datetime | None = None) -> Rollout | None:
        if as_of is not None:
            return next((r for r in reversed(self.rollouts(as_of)) if r.is_active), None)
        return next(reversed(self._all(Rollout, "rollout", None, active=True)), None)

    def next_rollout_number(self) -> int:
        return len(self.read.ids("rollout")) + 1

    # -- reading the log ----------------------------------------------------------------------------
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
