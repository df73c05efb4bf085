"""The ledger: the event log of every aggregate (application/event_log.py), which finds them by label or number
through the read models projected from that log beside it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.event_log import EventLog
from application.ports import ViewStore
from application.read_models import KINDS, InMemoryViewStore, ReadModels
from domain.errors import NotFound
from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout

T = TypeVar("T")


class Ledger(EventLog):
    """One event store for the three aggregates, so a decision touching several is saved atomically."""

    name = "retrain"
    snapshotting_intervals = {ModelVersion: 100, RetrainCampaign: 100, Rollout: 100}

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

    def _all(self, kind: type[T], name: str, as_of: datetime | None, **where: Any) -> list[T]:
        if as_of is not None:
            return self.read.as_of(kind, as_of, **where)
        return [self._get(UUID(i), kind, name) for i in self.read.ids(KINDS[kind], **where)]

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
