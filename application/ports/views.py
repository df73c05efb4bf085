"""The read models' port: documents and history rows kept beside the event log's position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class ViewDocument:
    """One aggregate as the listings show it, kept in the read models."""

    kind: str  # "version", "campaign" or "rollout"
    aggregate_id: str
    key: str  # the label (v3), campaign number or rollout number users type
    state: str
    active: bool  # a campaign or rollout still under way
    created: int  # the log position of the aggregate's first event: listing order
    document: dict[str, Any]


@dataclass(frozen=True)
class ViewEvent:
    """One event as `retrain history --json` shows it, with what it concerns ("version:v2", "campaign:<id>")."""

    position: int
    event_id: str  # "<aggregate id>:<its version>": how evidence refers to an event
    time: datetime
    aggregate_id: str
    event: str
    concerns: frozenset[str]
    row: dict[str, Any]


class ViewStore(Protocol):
    """The read models: documents and history rows kept beside a log position, all updated in one transaction."""

    def position(self) -> int:
        """The log position the views reflect (0: none)."""
        ...

    def advance(self, start: int, end: int, documents: Sequence[ViewDocument], events: Sequence[ViewEvent]) -> bool:
        """Store these changes and move the position from `start` to `end`, atomically; False, changing nothing,
        when the position is no longer `start` (another process advanced it)."""
        ...

    def reset(self) -> None:
        """Empty the views and set the position back to 0."""
        ...

    def ids(self, kind: str, *, state: str | None = None, active: bool | None = None) -> list[str]:
        """Aggregate ids of that kind, in creation order."""
        ...

    def documents(self, kind: str, *, aggregate_id: str | None = None, active: bool | None = None) -> list[str]:
        """Documents as JSON text, in creation order."""
        ...

    def events(self, *, aggregate_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
               concerns: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None) -> list[str]:
        """History rows as JSON text, in log order: of these aggregates, these events, about all these concerns,
        recorded with a time in [since, until]."""
        ...
