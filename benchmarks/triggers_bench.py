"""SPEC section 10, row 2: evaluating every trigger for a version with 1,000,000 predictions (200,000 rated).

Target: <= 50 ms per evaluation, and >= 100 x faster than recomputing the same windows with pandas from the table
(the baseline, measured in the same run). The verdicts of both are written to stderr, to compare by eye.
Run: .venv/bin/python -m benchmarks.triggers_bench [--predictions N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from adapters.logs import configure_logging
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore, to_us
from application.records import StoredFeedback, StoredPrediction
from benchmarks.common import COMMENTS, home_with_v1
from domain.policy import TriggerPolicy

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=28)


def fill(store: SqlAlchemyFeedbackStore, version_id: str, count: int) -> None:
    """`count` predictions over 28 days; one in five rated, 20% of those negative, some with comments."""
    step = timedelta(days=28) / count
    batch: list[StoredPrediction] = []
    answers: list[StoredFeedback] = []
    for i in range(count):
        at = START + i * step
        failed = i % 50 == 0
        batch.append(StoredPrediction(f"p{i:09d}", version_id, at, str(i % 10), None if failed else 4.0 + i % 3,
                                      "error" if failed else "ok", 0.9, "phone" if i % 3 else "scan", None, None,
                                      f"fp{i}"))
        if i % 5 == 0:
            negative = i % 25 == 0
            answers.append(StoredFeedback(f"p{i:09d}", 0 if negative else 1, at + timedelta(minutes=5),
                                          COMMENTS[i % len(COMMENTS)] if negative and i % 2 else None, None, True,
                                          f"f{i}"))
        if len(batch) == 50_000:
            store.add(batch, answers)
            batch, answers = [], []
    store.add(batch, answers)


def pandas_windows(store: SqlAlchemyFeedbackStore, version_id: str, policy: TriggerPolicy) -> dict[str, object]:
    """The baseline: read the version's rows, then compute the same five windows with pandas."""
    frame = pd.read_sql_query(
        "SELECT seq, ts, is_error, inference_ms, image_type, fb_value, fb_at, fb_comment FROM predictions "
        "WHERE version_id = ?", store.engine.raw_connection().driver_connection, params=(version_id,))
    now, week = to_us(NOW), 7 * 86_400_000_000
    frame = frame[frame.ts <= now].sort_values(["ts", "seq"])
    rated = frame[frame.fb_value.notna() & (frame.fb_at <= now)]
    satisfaction = rated.fb_value.tail(policy.satisfaction_window).mean()
    latency = frame[frame.is_error == 0].inference_ms.tail(policy.latency_window).mean()
    window = frame[frame.ts > now - week]
    error_rate = window.is_error.mean()
    negative = rated[(rated.fb_value == 0) & (rated.fb_at > now - week) & rated.fb_comment.notna()]
    folded = (negative.fb_comment.str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
              .str.casefold())
    pattern = r"\b(?:" + "|".join(policy.negative_terms) + r")\b"
    comments = int(folded.str.contains(pattern, regex=True).sum())
    per_type = rated.groupby("image_type").fb_value.apply(lambda s: s.tail(policy.image_type_window).mean())
    return {"satisfaction": satisfaction, "latency": latency, "error_rate": error_rate, "comments": comments,
            "per_type": per_type.to_dict()}


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    configure_logging()  # warnings and errors only, on stderr: stdout holds the figures
    with tempfile.TemporaryDirectory() as scratch:
        container = home_with_v1(Path(scratch) / "home")
        retrain = container.retrain
        version = retrain.ledger.version("v1")
        store = retrain.feedback
        started = time.perf_counter()
        fill(store, str(version.id), args.predictions)
        print(f"filled {args.predictions:,} predictions in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        policy = retrain.settings.triggers
        retrain.monitoring.verdicts(version, NOW, False)  # warm the caches, as a running server would be
        ours = timed(lambda: retrain.monitoring.verdicts(version, NOW, False), args.repeat)
        theirs = timed(lambda: pandas_windows(store, str(version.id), policy), max(3, args.repeat // 5))
        verdicts = {v.rule + (f"/{v.segment}" if v.segment else ""): v.observed
                    for v in retrain.monitoring.verdicts(version, NOW, False)}
        print(f"ours   : {verdicts}", file=sys.stderr)
        print(f"pandas : {pandas_windows(store, str(version.id), policy)}", file=sys.stderr)
        container.close()
    ours_ms, pandas_ms = statistics.median(ours), statistics.median(theirs)
    speed_up = pandas_ms / ours_ms
    print(f"every trigger for a version with {args.predictions:,} predictions ({args.predictions // 5:,} rated), "
          "baseline measured in the same run")
    print(f"{'figure':<34} {'value':>10}  {'baseline':<30} {'value':>10} {'ratio':>7}  target")
    print(f"{'one evaluation (median of ' + str(len(ours)) + ')':<34} {ours_ms:>7.1f} ms  {'-':<30} {'':>10} "
          f"{'':>7}  <= 50 ms {'met' if ours_ms <= 50 else 'NOT met'}")
    print(f"{'speed-up over pandas':<34} {ours_ms:>7.1f} ms  {'pandas (median of ' + str(len(theirs)) + ')':<30} "
          f"{pandas_ms:>7.1f} ms {speed_up:>6.0f}x  >= 100 x {'met' if speed_up >= 100 else 'NOT met'}")

if __name__ == "__main__":
    main()
