"""Rule 4.1.2: mean inference time over the last 50 consecutive ok predictions above 150% of the baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

from domain.rules.verdicts import TriggerVerdict

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
    mean = math.fsum(recent) / len(recent)
    return TriggerVerdict(
        LATENCY,
        "breached" if mean > factor * baseline_ms else "ok",
        threshold,
        round(mean, 6),
        len(recent),
        evidence={"baseline_ms": baseline_ms, "factor": factor},
    )
