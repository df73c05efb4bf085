"""The server's background loop: the time-driven part of the procedure on the system clock.

Every `serve.tick_seconds` it runs a tick without campaign steps (monitor, rollout phases): training and the other
campaign steps belong to `retrain worker`, never to a process that serves requests. An accepted batch of records
pokes it, so the triggers are evaluated soon after each batch (rule 4.1) without slowing the request: at most once
a second however many batches arrive."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from application.monitoring import VersionReport
from application.retrain import Retrain

log = structlog.get_logger()
POKED_EVERY = 1.0  # seconds between two evaluations woken by new records


class BackgroundLoop:
    def __init__(self, retrain: Retrain, *, interval: float, monitored: Callable[[list[VersionReport]], None],
                 checked: Callable[[Any], None] | None = None) -> None:
        self.retrain = retrain
        self.interval = interval
        self.monitored = monitored
        self.checked = checked  # the active rollout's phase health after each full pass (metrics)
        self._poked = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retrain-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """New records arrived: evaluate the triggers soon."""
        self._poked.set()

    def stop(self) -> None:
        self._stopping.set()
        self._poked.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                if started >= next_tick:  # a full pass: monitor and rollout phases
                    self.monitored(self.retrain.tick(campaign_steps=False).monitor)
                    if self.checked is not None:
                        self.checked(self.retrain.rollouts.active_health())
                    next_tick = started + self.interval
                elif self._poked.is_set():
                    self._poked.clear()
                    self.monitored(self.retrain.monitoring.evaluate())
            except Exception as error:  # noqa: BLE001 - the loop must outlive one failed pass; the log says why
                log.error("background_pass_failed", error=type(error).__name__, detail=str(error)[:200])
            self._stopping.wait(max(0.0, started + POKED_EVERY - time.monotonic()))  # at most one pass a second
            self._poked.wait(timeout=max(0.0, next_tick - time.monotonic()))


class LoopLock:
    """An exclusive lock on a file of the home: of several server processes on one machine, one runs the loop.
    (Processes on other machines may run theirs too: every step they take is safe under optimistic concurrency.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None
