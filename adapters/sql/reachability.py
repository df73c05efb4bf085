"""A PostgreSQL server that cannot be reached is one sentence within seconds, not a 30-second wait and a driver's
traceback."""

from __future__ import annotations

from urllib.parse import urlparse

import psycopg

from application.ports import StoreUnavailable

CONNECT_TIMEOUT_S = 5


def check_reachable(url: str, setting: str) -> None:
    """Open and close one connection to a PostgreSQL URL (SQLite and memory URLs need nothing)."""
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        return
    conninfo = "postgresql://" + url.split("://", 1)[1]
    parts = urlparse(conninfo)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{parts.path.lstrip('/') or 'postgres'}"
    try:
        psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise StoreUnavailable(f"the {setting.replace('_', ' ')} (PostgreSQL at {where}) cannot be reached: "
                               f"{reason}") from None
