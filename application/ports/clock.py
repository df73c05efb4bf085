"""The clock port: the current time, which rules never read from the wall clock themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The current time; rules never read the wall clock themselves."""

    def now(self) -> datetime: ...
