"""The read models: every listing, the history and `explain` read SQL views kept up to date with the log.

The projection reads the notifications after the position the views reflect, applies each event to its aggregate
(kept in memory between calls, loaded from its snapshot when not), and stores the documents, one history row per
event and the new position in one transaction of the view store. Killing a process anywhere leaves the views at a
position they fully reflect; the next read catches up from there. `retrain views rebuild` starts them again from 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from application.documents import campaign_summary, rollout_summary, version_summary
from application.event_log import PAGE, RECORDED_AT, EventLog
from application.ports import ViewDocument, ViewEvent, ViewStore
from domain.erasure import Erasure
from domain.errors import NotFound
from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout

log = structlog.get_logger()

T = TypeVar("T")
PROGRESS_PAGES = 50  # a progress line every 50,000 events
CACHED_AGGREGATES = 5000
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "actor", "originator_topic", RECORDED_AT})
LABEL_FIELDS = ("label", "version_label", "candidate_label", "stable_label", "by_version", "replacing")
VERDICTS = ("CandidateValidated", "CandidateRejected")
KINDS: dict[type, str] = {ModelVersion: "version", RetrainCampaign: "campaign", Rollout: "rollout"}
NAMES = {"version": "model version", "campaign": "campaign", "rollout": "rollout"}
Aggregate = ModelVersion | RetrainCampaign | Rollout | Erasure


class ReadModels:
    """Keeps a view store up to date with the event log, and reads it."""

    def __init__(self, log: EventLog, store: ViewStore) -> None:
        self.log = log
        self.store = store
        self._aggregates: dict[str, Aggregate] = {}

    # -- projecting ---------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Project every event recorded since the views' position; returns the position they now reflect."""
        for _ in range(20):
            position = self.store.position()
            last = self.log.recorder.max_notification_id() or 0
            if last < position:
                log.warning("views_ahead_of_log", position=position, last=last)
                self.store.reset()
                self._aggregates.clear()
                continue
            pages = 0
            while position < last:
                page = self.log.recorder.select_notifications(start=position + 1, limit=PAGE, stop=last)
                if not page:
                    return position
                documents, events = self._project(page)
                if not self.store.advance(position, page[-1].id, documents, events):
                    self._aggregates.clear()  # another process projected these: our cache may have missed events
                    break
                position = page[-1].id
                pages += 1
                if pages % PROGRESS_PAGES == 0:
                    log.info("views_catching_up", position=position, log=last)
            else:
                return position
        return self.store.position()

    def rebuild(self) -> int:
        """Empty the views and project the whole log again."""
        self.store.reset()
        self._aggregates.clear()
        return self.catch_up()

    def _project(self, page: Sequence[Notification]) -> tuple[list[ViewDocument], list[ViewEvent]]:
        touched: dict[str, tuple[Aggregate, int]] = {}
        events = []
        for notification in page:
            domain_event = self.log.mapper.to_domain_event(notification)
            aggregate = self._apply(domain_event)
            aggregate_id = str(aggregate.id)
            created = (notification.id if domain_event.originator_version == 1
                       else touched.get(aggregate_id, (aggregate, 0))[1])
            touched[aggregate_id] = (aggregate, created)
            events.append(self._event(notification.id, domain_event, aggregate))
        documents = [self._document(aggregate, created) for aggregate, created in touched.values()
                     if type(aggregate) in KINDS]
        if len(self._aggregates) > CACHED_AGGREGATES:
            self._aggregates.clear()
        return documents, events

    def _apply(self, domain_event: DomainEventProtocol[Any]) -> Aggregate:
        """The event's aggregate just after the event: the cached one moved on, or loaded at that version."""
        aggregate_id = str(domain_event.originator_id)
        cached = self._aggregates.get(aggregate_id)
        if cached is not None and cached.version + 1 == domain_event.originator_version:
            domain_event.mutate(cached)
            return cached
        if domain_event.originator_version == 1:
            aggregate = domain_event.mutate(None)
        else:
            aggregate = self.log.repository.get(domain_event.originator_id, version=domain_event.originator_version)
        self._aggregates[aggregate_id] = aggregate
        return aggregate

    def _cached(self, aggregate_id: str) -> Aggregate:
        found = self._aggregates.get(aggregate_id)
        return found if found is not None else self.log.repository.get(UUID(aggregate_id))

    def _document(self, aggregate: Aggregate, created: int) -> ViewDocument:
        aggregate_id = str(aggregate.id)
        if isinstance(aggregate, ModelVersion):
            parent = self._cached(aggregate.parent_id).label if aggregate.parent_id else None
            return ViewDocument("version", aggregate_id, aggregate.label, aggregate.state, False, created,
                                version_summary(aggregate, parent))
        if isinstance(aggregate, RetrainCampaign):
            return ViewDocument("campaign", aggregate_id, str(aggregate.number), aggregate.state, aggregate.is_active,
                                created, campaign_summary(aggregate))
        return ViewDocument("rollout", aggregate_id, str(aggregate.number), aggregate.state, aggregate.is_active,
                            created, rollout_summary(aggregate))

    def _event(self, position: int, domain_event: DomainEventProtocol[Any], aggregate: Aggregate) -> ViewEvent:
        aggregate_id = str(aggregate.id)
        name = type(domain_event).__name__
        details = jsonable({k: v for k, v in vars(domain_event).items() if k not in ENVELOPE})
        label = _label(aggregate)
        event_id = event_identity(aggregate_id, domain_event.originator_version)
        row = {
            "time": domain_event.timestamp.isoformat(), "aggregate": type(aggregate).__name__,
            "aggregate_id": aggregate_id, "version": label, "event": name,
            "actor": getattr(domain_event, "actor", None), "details": details, "event_id": event_id,
            "position": position, "recorded_at": getattr(domain_event, RECORDED_AT, None),
        }
        return ViewEvent(position, event_id, domain_event.timestamp, aggregate_id, name,
                         frozenset(self._concerns(aggregate, name, label, details)), row)

    def _concerns(self, aggregate: Aggregate, name: str, label: str | None, details: dict[str, Any]) -> Iterable[str]:
        """The versions an event is about (`history --version`), and the campaigns (`history --campaign`): a
        campaign's own events, its candidate's registration and verdict, and its candidate's rollout."""
        labels = {label} if label else set()
        labels |= {details[f] for f in LABEL_FIELDS if isinstance(details.get(f), str)}
        campaigns = {details["campaign_id"]} if details.get("campaign_id") else set()
        if isinstance(aggregate, Rollout):
            labels |= {aggregate.stable_label, aggregate.candidate_label}
            campaigns |= {aggregate.campaign_id} if aggregate.campaign_id else set()
        elif isinstance(aggregate, RetrainCampaign):
            campaigns.add(str(aggregate.id))
        elif isinstance(aggregate, ModelVersion) and aggregate.campaign_id:
            rollout_id = details.get("rollout_id")
            if name in VERDICTS or (rollout_id and self._rollout_campaign(rollout_id) == aggregate.campaign_id):
                campaigns.add(aggregate.campaign_id)
        yield from (f"version:{v}" for v in labels)
        yield from (f"campaign:{c}" for c in campaigns)

    def _rollout_campaign(self, rollout_id: str) -> str | None:
        rollout = self._cached(rollout_id)
        return rollout.campaign_id if isinstance(rollout, Rollout) else None

    # -- reading ------------------------------------------------------------------------------------
    def ids(self, kind: str, *, state: str | None = None, active: bool | None = None) -> list[str]:
        self.catch_up()
        return self.store.ids(kind, state=state, active=active)

    def documents(self, kind: str, *, aggregate_id: str | None = None,
                  active: bool | None = None) -> list[dict[str, Any]]:
        self.catch_up()
        return [json.loads(text) for text in self.store.documents(kind, aggregate_id=aggregate_id, active=active)]

    def event_texts(self, *, aggregate_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
                    concerns: Sequence[str] = (), since: datetime | None = None,
                    until: datetime | None = None) -> list[str]:
        self.catch_up()
        return self.store.events(aggregate_ids=aggregate_ids, event_ids=event_ids, concerns=concerns, since=since,
                                 until=until)

    def events(self, **where: Any) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.event_texts(**where)]

    def find(self, kind: str, ref: str) -> dict[str, Any]:
        """One document by id, label (`v3`) or number (`3`, `c3`, `r2`), or NotFound naming what was asked for."""
        aggregate_id = self.log.resolve(kind, ref)
        found = self.documents(kind, aggregate_id=str(aggregate_id)) if aggregate_id else []
        if not found:
            raise NotFound(f"no {NAMES[kind]} {ref!r}")
        return found[0]

    def as_of(self, kind: type[T], moment: datetime, **where: Any) -> list[T]:
        """Every aggregate of that kind as it was known at `moment`, rebuilt from its events recorded up to then."""
        ids = self.ids(KINDS[kind], **where)
        return [found for i in ids if isinstance(found := self.log.as_of(UUID(i), moment), kind)]

    # -- the listings -------------------------------------------------------------------------------
    def versions(self, as_of: datetime | None = None) -> list[dict[str, Any]]:
        """Every version in the `retrain models --json` shape, oldest first; with `as_of`, as known then
        (rebuilt from the events recorded up to that time)."""
        if as_of is None:
            return self.documents("version")
        versions = self.as_of(ModelVersion, as_of)
        labels = {str(v.id): v.label for v in versions}
        return [version_summary(v, labels.get(v.parent_id) if v.parent_id else None) for v in versions]

    def campaigns(self, as_of: datetime | None = None) -> list[dict[str, Any]]:
        if as_of is None:
            return self.documents("campaign")
        return [campaign_summary(c) for c in self.as_of(RetrainCampaign, as_of)]

    def rollout_status(self, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The active rollout in the `retrain rollout status --json` shape, or None when none is active."""
        if as_of is None:
            return next(reversed(self.documents("rollout", active=True)), None)
        rollout = next((r for r in reversed(self.as_of(Rollout, as_of)) if r.is_active), None)
        return None if rollout is None else rollout_summary(rollout)


def event_identity(aggregate_id: str, originator_version: int) -> str:
    """An event's identity, by which evidence refers to it: its aggregate and its version there."""
    return f"{aggregate_id}:{originator_version}"


def _label(aggregate: Aggregate) -> str | None:
    if isinstance(aggregate, ModelVersion):
        return aggregate.label
    if isinstance(aggregate, RetrainCampaign):
        return aggregate.version_label
    if isinstance(aggregate, Rollout):
        return aggregate.candidate_label
    return None  # an aggregate about no version (an erasure)


def jsonable(value: Any) -> Any:
    """JSON types only: times as RFC 3339 text, ids as text (checked by exact type: this runs for every event)."""
    kind = type(value)
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is datetime:
        return value.isoformat()
    if kind in (str, int, float, bool) or value is None:
        return value
    return str(value)


class InMemoryViewStore:
    """The view store of an in-memory event store: the same answers as the SQL one, from dicts."""

    def __init__(self) -> None:
        self._position = 0
        self._documents: dict[str, ViewDocument] = {}
        self._events: list[ViewEvent] = []

    def position(self) -> int:
        return self._position

    def advance(self, start: int, end: int, documents: Sequence[ViewDocument], events: Sequence[ViewEvent]) -> bool:
        if self._position != start:
            return False
        for document in documents:
            kept = self._documents.get(document.aggregate_id)
            created = kept.created if kept is not None and kept.created else document.created
            self._documents[document.aggregate_id] = ViewDocument(
                document.kind, document.aggregate_id, document.key, document.state, document.active, created,
                document.document)
        self._events.extend(events)
        self._position = end
        return True

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _select(self, kind: str, state: str | None, active: bool | None,
                aggregate_id: str | None = None) -> list[ViewDocument]:
        found = [d for d in self._documents.values() if d.kind == kind
                 and (state is None or d.state == state) and (active is None or d.active == active)
                 and (aggregate_id is None or d.aggregate_id == aggregate_id)]
        return sorted(found, key=lambda d: d.created)

    def ids(self, kind: str, *, state: str | None = None, active: bool | None = None) -> list[str]:
        return [d.aggregate_id for d in self._select(kind, state, active)]

    def documents(self, kind: str, *, aggregate_id: str | None = None, active: bool | None = None) -> list[str]:
        return [json.dumps(d.document) for d in self._select(kind, None, active, aggregate_id)]

    def events(self, *, aggregate_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
               concerns: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None) -> list[str]:
        return [json.dumps(e.row) for e in self._events
                if (aggregate_ids is None or e.aggregate_id in aggregate_ids)
                and (event_ids is None or e.event_id in event_ids)
                and all(c in e.concerns for c in concerns)
                and (since is None or e.time >= since) and (until is None or e.time <= until)]
