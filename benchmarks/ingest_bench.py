"""SPEC section 10, row 1: `retrain ingest` of 1,000,000 records into the SQLite feedback store.

Target: >= 100,000 records/s end to end, and >= 0.4 x a raw sqlite3.executemany of the same rows in the same run.
Run: .venv/bin/python -m benchmarks.ingest_bench [--records N]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from benchmarks.common import home_with_v1, write_records


def raw_executemany(path: Path, records_file: Path, version_id: str) -> float:
    """Baseline: the same rows (same columns and values), already parsed into tuples, one executemany per table."""
    from datetime import datetime

    from domain.rules.negative_comments import comment_words

    SqlAlchemyFeedbackStore(f"sqlite:///{path}").close()  # the same schema and indexes
    predictions, feedback = [], []
    for line in records_file.open():
        r = json.loads(line)
        ts = int(datetime.fromisoformat(r["timestamp"]).timestamp() * 1_000_000)
        answer = (r["user_feedback"], ts, r.get("comment"), None, 1,
                  comment_words(r["comment"]) if r.get("comment") else None) if "user_feedback" in r else (None,) * 6
        predictions.append((r["prediction_id"], version_id, ts, r["predicted_label"], r.get("confidence"),
                            r.get("inference_ms"), int(r.get("status") == "error"), r["image_type"], None, None,
                            "f" * 64, *answer))
        if "user_feedback" in r:
            feedback.append((r["prediction_id"], r["user_feedback"], ts, r.get("comment"), None, 1, "f" * 64))
    connection = sqlite3.connect(path)
    started = time.perf_counter()
    connection.executemany(
        "INSERT INTO predictions (prediction_id, version_id, ts, predicted_label, confidence, inference_ms, is_error,"
        " image_type, image_sha256, user_ref, fingerprint, fb_value, fb_at, fb_comment, fb_corrected_label,"
        " fb_consent, fb_words) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", predictions)
    connection.executemany(
        "INSERT INTO feedback (prediction_id, user_feedback, feedback_at, comment, corrected_label, gdpr_consent,"
        " fingerprint) VALUES (?,?,?,?,?,?,?)", feedback)
    connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    count = parser.parse_args().records
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data = write_records(root / "records.jsonl", count)
        container = home_with_v1(root / "home")
        version_id = str(container.ledger.version("v1").id)
        raw = raw_executemany(root / "raw.db", data, version_id)

        env = {**os.environ, "RETRAIN_HOME": str(root / "home")}
        retrain = Path(sys.executable).with_name("retrain")
        started = time.perf_counter()
        done = subprocess.run([str(retrain), "ingest", str(data), "--now", "2026-04-01T00:00:00Z"], env=env,
                              capture_output=True, text=True)
        ours = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"ingest failed: {done.stderr.strip()}")
    print(f"records                      {count:>12,}")
    print(f"raw sqlite3.executemany      {raw:>10.2f} s  {count / raw:>12,.0f} records/s")
    print(f"retrain ingest (end to end)  {ours:>10.2f} s  {count / ours:>12,.0f} records/s")
    print(f"ratio to raw                 {raw / ours:>12.2f}   (target >= 0.40)")
    print(f"target >= 100,000 records/s  {'met' if count / ours >= 100_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
