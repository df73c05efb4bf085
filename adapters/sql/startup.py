"""Opening a store: a PostgreSQL server that cannot be reached is one sentence within seconds (not a 30-second
wait and a driver's traceback), and processes started at once create the event store's tables one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import psycopg

from application.ports import StoreUnavailable

CONNECT_TIMEOUT_S = 5


def _connect(url: str, setting: str) -> psycopg.Connection:
    conninfo = "postgresql://" + url.split("://", 1)[1]
    parts = urlparse(conninfo)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{parts.path.lstrip('/') or 'postgres'}"
    try:
        return psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise StoreUnavailable(f"the {setting.replace('_', ' ')} (PostgreSQL at {where}) cannot be reached: "
                               f"{reason}") from None


def _postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://"))


def check_reachable(url: str, setting: str) -> None:
    """Open and close one connection to a PostgreSQL URL (SQLite and memory URLs need nothing)."""
    if _postgres(url):
        _connect(url, setting).close()


@contextmanager
def opening_alone(url: str, setting: str) -> Iterator[None]:
    """Check that the store can be reached, and hold a PostgreSQL advisory lock while the block opens it.

    eventsourcing creates its tables (CREATE TABLE IF NOT EXISTS) each time a process opens the event store; two
    processes doing so at once fail with 'tuple concurrently updated'."""
    if not _postgres(url):
        yield
        return
    with _connect(url, setting) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext('retrain.open-event-store'))")
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext('retrain.open-event-store'))")
