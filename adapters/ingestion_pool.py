"""Ingestion's parsing workers (application.ports.ParsingPool): a pool of processes, forked where the platform can,
that prepare chunks a few ahead of the writes, each exiting when the ingest that started it is gone."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any


class ProcessParsingPool:
    """One process pool per ingest, of one process per core beside this one's (at most 4) unless told otherwise."""

    def workers(self, requested: int | None) -> int:
        if requested is not None:
            return max(0, requested)
        return max(0, min(4, (os.cpu_count() or 1) - 1))

    def results(self, calls: Iterator[Callable[[], Any]], workers: int) -> Iterator[Any]:
        """At most 2 x `workers` + 1 calls are handed over and not yet read back; the pool ends with the iteration
        (its processes are joined when the ingest stops early too)."""
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            pending: deque[Future[Any]] = deque()
            for call in calls:
                pending.append(pool.submit(call))
                if len(pending) > 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _exit_with_parent(parent: int) -> None:
    """A parsing worker exits when the ingest that started it is gone (killed with SIGKILL, it cannot say so)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
