"""Rule 4.1.2: mean inference time over the last 50 consecutive ok predictions above 150% of the baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from domain.rules.verdicts import TriggerVerdict, exact

LATENCY = "latency"


def measure_baseline(first_ok_latencies: Sequence[float], *, sample: int) -> float | None:
    """The baseline is the mean of the version's first `sample` ok predictions; None until there are that many."""
    if len(first_ok_latencies) < sample:
        return None
    return round(math.fsum(first_ok_latencies[:sample]) / sample, 6)


def evaluate_latency(
    latencies: Sequence[float], *, baseline_ms: float | None, window: int, factor: float
) -> TriggerVerdict:
    """Breach iff the mean of the last `window` ok latencies > factor x baseline; needs a baseline and a full window."""
    recent = list(latencies[-window:])
    threshold = round(factor * baseline_ms, 6) if baseline_ms is not None else 0.0
    if baseline_ms is None or len(recent) < window:
        return TriggerVerdict(LATENCY, "not_evaluated", threshold, None, len(recent))
    # Compared as the decimals that were written: 0.45 ms against 1.5 x 0.3 ms is "exactly 1.5 x", not above it.
    total = sum((exact(value) for value in recent), Fraction(0))
    breached = total > exact(factor) * exact(baseline_ms) * len(recent)
    return TriggerVerdict(
        LATENCY,
        "breached" if breached else "ok",
        threshold,
        round(math.fsum(recent) / len(recent), 6),
        len(recent),
        evidence={"baseline_ms": baseline_ms, "factor": factor},
    )
