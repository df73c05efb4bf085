"""SPEC section 10, row 4: reads of a store of 1,000,000 events, answered from the read models.

The store: v1 in production with a long life of breach and recovery episodes, a rollout of v2 at 10% (v2 owns 60
events), and twenty more registered versions. Measured in process, each the median of several runs:
`explain v2 --json`, `models --json`, `rollout status --json` and routing one request with a cold routing table
(target: <= 50 ms each, whatever the size of the store); `history --json` over the last 100,000 events against its
baseline, a raw read of the same 100,000 notifications from the event store in the same run (target: <= 1.5x).
Also printed: how fast the read models project the log when they start from nothing (`retrain views rebuild`).

The store is built once under .bench-history/ (about a minute) and reused while it holds the requested count.
Run: .venv/bin/python -m benchmarks.history_bench [--events N] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.logs import configure_logging
from application.audit import HistoryFilter
from application.serving import Router
from application.settings import load_settings
from benchmarks.common import home_with_v1
from bootstrap import Container, build_clock

V2_EVENTS = 60
OTHER_VERSIONS = 20
CHUNK_EPISODES = 5_000  # saved together: 10,000 events per transaction
HISTORY_ROWS = 100_000
START = datetime(2026, 2, 2, tzinfo=UTC)


def breach_and_recover(version: Any, at: datetime) -> None:
    version.record_breach(rule="latency", segment=None, observed=9.0, threshold=7.5, window_size=50,
                          window_start=None, window_end=at, evidence={"p95_ms": 9.0}, actor="system:monitor",
                          timestamp=at)
    version.record_recovery(rule="latency", segment=None, observed=5.0, threshold=7.5, window_size=50,
                            actor="system:monitor", timestamp=at)


def fill(container: Container, events: int) -> None:
    """v2 validated and in a 10% rollout, with its own episodes up to 60 events; twenty more versions; then v1's
    episodes, saved in chunks, until the log holds `events`."""
    ledger, models = container.ledger, container.models
    weights = container.blobs.get(ledger.version("v1").artifact_sha256)
    spec = {"mode": "L", "size": [8, 8], "mean": [0.5], "std": [0.5]}
    for _ in range(1 + OTHER_VERSIONS):
        models.register(weights=weights, architecture="digits-cnn", classes=[str(d) for d in range(10)],
                        input_spec=spec, baseline_ms=5.0, production=False, actor="user:benchmark")
    v1, v2 = ledger.version("v1"), ledger.version("v2")
    v2.validate(parent_id=str(v1.id), gates=[], figures={}, actor="system:campaign", timestamp=START)
    ledger.save(v2)
    container.retrain.rollouts.start("v2", actor="user:benchmark")
    v2 = ledger.version("v2")
    at = START
    while v2.version + 2 <= V2_EVENTS:
        at += timedelta(minutes=1)
        breach_and_recover(v2, at)
    if v2.version < V2_EVENTS:  # one episode still open
        v2.record_breach(rule="error_rate", segment=None, observed=0.08, threshold=0.05, window_size=500,
                         window_start=None, window_end=at, evidence={}, actor="system:monitor", timestamp=at)
    ledger.save(v2)
    assert v2.version == V2_EVENTS, v2.version
    v1 = ledger.version("v1")
    remaining = events - (ledger.recorder.max_notification_id() or 0)
    for chunk in range(0, remaining // 2, CHUNK_EPISODES):
        for _ in range(min(CHUNK_EPISODES, remaining // 2 - chunk)):
            at += timedelta(minutes=1)
            breach_and_recover(v1, at)
        ledger.save(v1)
        if chunk % (20 * CHUNK_EPISODES) == 0:
            print(f"  {ledger.recorder.max_notification_id():>10,} events recorded", flush=True)


def median_ms(action: Callable[[], Any], runs: int = 15) -> float:
    action()  # the first run may pay for imports and caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="build the store again")
    options = parser.parse_args()
    configure_logging()
    home = Path.cwd() / ".bench-history"
    container = Container(load_settings(home=home), build_clock(None)) if home.exists() else None
    if options.fresh or container is None or (container.ledger.recorder.max_notification_id() or 0) < options.events:
        if container is not None:
            container.close()
        shutil.rmtree(home, ignore_errors=True)
        print(f"building a store of {options.events:,} events under {home}")
        container = home_with_v1(home)
        fill(container, options.events)
    ledger, audit = container.ledger, container.audit
    last = ledger.recorder.max_notification_id() or 0

    started = time.perf_counter()
    projected = ledger.read.rebuild()
    rebuild_s = time.perf_counter() - started

    explain = median_ms(lambda: json.dumps(audit.explain("v2")))
    models = median_ms(lambda: json.dumps(ledger.read.versions()))
    status = median_ms(lambda: json.dumps(ledger.read.rollout_status()))
    routing = median_ms(lambda: Router(ledger=ledger).table().version_for("user-42", "p-1"))

    first = last - HISTORY_ROWS + 1
    since = ledger.mapper.to_domain_event(ledger.recorder.select_notifications(start=first, limit=1)[0]).timestamp
    window = HistoryFilter(since=since)
    rows = len(json.loads(audit.history_json(window)))
    history = median_ms(lambda: audit.history_json(window), runs=5)
    raw = median_ms(lambda: ledger.recorder.select_notifications(start=first, limit=rows), runs=5)

    table = Table(title=f"Reads of a store of {last:,} events (v2 owns {V2_EVENTS}; medians, in process)")
    for column in ("read", "measured", "target", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "read" else "right")
    for name, figure in (("explain v2 --json", explain), ("models --json", models),
                         ("rollout status --json", status), ("routing one request (cold table)", routing)):
        table.add_row(name, f"{figure:.1f} ms", "<= 50 ms", "-", f"{figure / 50:.2f} of target")
    table.add_row(f"history --json ({rows:,} events)", f"{history:.0f} ms", "<= 1.5x baseline",
                  f"{raw:.0f} ms raw read", f"{history / raw:.2f}x")
    table.add_row(f"views rebuild ({projected:,} events)", f"{rebuild_s:.1f} s", "-", "-",
                  f"{projected / rebuild_s:,.0f} events/s")
    Console(width=140).print(table)
    container.close()


if __name__ == "__main__":
    main()
