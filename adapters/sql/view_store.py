"""ViewStore on SQLAlchemy: the read models in the feedback store's database, moved on with their log position in
one transaction (a conditional update of that position makes a second projector's page a no-op)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sql.feedback_store import to_us
from adapters.sql.schema import view_documents, view_event_concerns, view_events, view_position
from application.ports import ViewDocument, ViewEvent

NAME = "views"


class SqlViewStore:
    """Documents, history rows and their concerns; every read is one indexed query."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def position(self) -> int:
        with self.engine.connect() as connection:
            found = connection.execute(select(view_position.c.position).where(view_position.c.name == NAME)).scalar()
        return int(found or 0)

    def advance(self, start: int, end: int, documents: Sequence[ViewDocument], events: Sequence[ViewEvent]) -> bool:
        with self.engine.begin() as connection:
            moved = connection.execute(
                update(view_position).where(view_position.c.name == NAME, view_position.c.position == start)
                .values(position=end))
            if moved.rowcount != 1:
                return False  # nothing written: another process moved the position first
            if documents:
                upsert = (postgresql_insert if self.engine.dialect.name == "postgresql"
                          else sqlite_insert)(view_documents)
                kept = view_documents.c.created
                connection.execute(upsert.on_conflict_do_update(
                    index_elements=[view_documents.c.aggregate_id],
                    set_={"kind": upsert.excluded.kind, "key": upsert.excluded.key, "state": upsert.excluded.state,
                          "active": upsert.excluded.active, "document": upsert.excluded.document,
                          "created": _first_position(kept, upsert.excluded.created)},
                ), [_document_row(d) for d in documents])
            if events:
                connection.execute(insert(view_events), [
                    {"position": e.position, "event_id": e.event_id, "ts": to_us(e.time),
                     "aggregate_id": e.aggregate_id, "row": json.dumps(e.row, separators=(",", ":"))}
                    for e in events])
                concerns = [{"concern": c, "position": e.position} for e in events for c in e.concerns]
                if concerns:
                    connection.execute(insert(view_event_concerns), concerns)
        return True

    def reset(self) -> None:
        with self.engine.begin() as connection:
            for table in (view_event_concerns, view_events, view_documents):
                connection.execute(delete(table))
            connection.execute(update(view_position).where(view_position.c.name == NAME).values(position=0))

    def ids(self, kind: str, *, state: str | None = None, active: bool | None = None) -> list[str]:
        query = _documents(select(view_documents.c.aggregate_id), kind, state=state, active=active)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def documents(self, kind: str, *, aggregate_id: str | None = None, active: bool | None = None) -> list[str]:
        query = _documents(select(view_documents.c.document), kind, active=active, aggregate_id=aggregate_id)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def events(self, *, aggregate_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
               concerns: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None) -> list[str]:
        query = select(view_events.c.row).order_by(view_events.c.position)
        if aggregate_ids is not None:
            query = query.where(view_events.c.aggregate_id.in_(list(aggregate_ids)))
        if event_ids is not None:
            query = query.where(view_events.c.event_id.in_(list(event_ids)))
        for concern in concerns:
            about = select(view_event_concerns.c.position).where(view_event_concerns.c.concern == concern)
            query = query.where(view_events.c.position.in_(about))
        if since is not None:
            query = query.where(view_events.c.ts >= to_us(since))
        if until is not None:
            query = query.where(view_events.c.ts <= to_us(until))
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())


def _first_position(kept: Any, new: Any) -> Any:
    """A document keeps the position of its aggregate's first event once it knows it."""
    return case((kept > 0, kept), else_=new)


def _document_row(document: ViewDocument) -> dict[str, Any]:
    return {"aggregate_id": document.aggregate_id, "kind": document.kind, "key": document.key,
            "state": document.state, "active": int(document.active), "created": document.created,
            "document": json.dumps(document.document, separators=(",", ":"))}


def _documents(query: Any, kind: str, *, state: str | None = None, active: bool | None = None,
               aggregate_id: str | None = None) -> Any:
    query = query.where(view_documents.c.kind == kind).order_by(view_documents.c.created, view_documents.c.aggregate_id)
    if state is not None:
        query = query.where(view_documents.c.state == state)
    if active is not None:
        query = query.where(view_documents.c.active == int(active))
    if aggregate_id is not None:
        query = query.where(view_documents.c.aggregate_id == aggregate_id)
    return query
