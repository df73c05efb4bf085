"""Ingestion's port to other processes: the workers that parse and prepare a file's chunks ahead of its writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol


class ParsingPool(Protocol):
    """Ingestion's parsing workers: other processes that run its pure work (preparing chunks) ahead of its writes."""

    def workers(self, requested: int | None) -> int:
        """The processes an ingest gets when it asks for `requested` (None: the pool's default); 0: none."""
        ...

    def results(self, calls: Iterator[Callable[[], Any]], workers: int) -> Iterator[Any]:
        """Each call's result, in order. The calls run in `workers` processes, a bounded few ahead of the results
        read; each is taken from `calls` only as it is handed over, and pickles (a module-level function's partial)."""
        ...
