"""SPEC section 10, row 4: `retrain history` and `retrain explain` with 100,000 events in the store.

Target: <= 2 s each. Baseline printed beside: reading the same notifications raw from the recorder (no decoding).
Run: .venv/bin/python -m benchmarks.history_bench [--events N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import home_with_v1
from domain.rules.verdicts import TriggerVerdict


def fill(container, events: int) -> None:  # noqa: ANN001 - a bootstrap.Container
    """Breach and recovery episodes on v1, saved in batches: two events per episode."""
    ledger = container.ledger
    version = ledger.version("v1")
    at = datetime(2026, 2, 2, tzinfo=UTC)
    verdict = TriggerVerdict("latency", "breached", 7.5, 9.0, 50)
    for episode in range(events // 2):
        at += timedelta(minutes=1)
        version.record_breach(rule=verdict.rule, segment=None, observed=verdict.observed, threshold=verdict.threshold,
                              window_size=50, window_start=None, window_end=at, evidence={}, actor="system:monitor",
                              timestamp=at)
        version.record_recovery(rule=verdict.rule, segment=None, observed=5.0, threshold=7.5, window_size=50,
                                actor="system:monitor", timestamp=at)
        if episode % 500 == 499:
            ledger.save(version)
    ledger.save(version)


def timed_command(home: Path, *args: str) -> float:
    env = {**os.environ, "RETRAIN_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("retrain")), *args], env=env, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    count = parser.parse_args().events
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        container = home_with_v1(home)
        fill(container, count)
        started = time.perf_counter()
        raw = len(list(container.ledger.recorder.select_notifications(start=None, limit=10 * count)))
        raw_seconds = time.perf_counter() - started
        history = timed_command(home, "history", "--json")
        explain = timed_command(home, "explain", "v1", "--json")
    print(f"events in the store               {raw:>10,}")
    print(f"raw notification read (baseline)  {raw_seconds:>10.2f} s")
    print(f"retrain history --json            {history:>10.2f} s   (target <= 2 s)")
    print(f"retrain explain v1 --json         {explain:>10.2f} s   (target <= 2 s)")


if __name__ == "__main__":
    main()
