"""`make bench`: every benchmark of SPEC section 10, one after the other, then a summary of their verdicts.

Each runs as `python -m benchmarks.NAME` in its own process and prints its table (logs go to stderr, kept out of
the way in .bench-logs/NAME.log). The sizes are each benchmark's defaults, the SPEC's except where its --help says
otherwise; --quick runs small sizes, to check the benchmarks themselves rather than to read their figures.
Run: .venv/bin/python -m benchmarks [--quick] [NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

# name, what it measures, the arguments of a quick run
BENCHMARKS = (
    ("ingest_bench", "retrain ingest vs raw executemany / COPY", ["--records", "100000"]),
    ("scale_bench", "ingest and triggers as the store grows", ["--large", "300000", "--batch", "20000"]),
    ("triggers_bench", "every trigger vs pandas", ["--predictions", "100000"]),
    ("history_bench", "reads of a large event store", ["--events", "100000"]),
    ("serve_bench", "POST /v1/predict", ["--seconds", "2"]),
    ("finetune_bench", "what fine-tuning buys, and its time", ["--seeds", "0"]),
    ("drift_bench", "what the loop buys on real data (MNIST)", ["--seeds", "0", "--budgets", "300", "--original",
                                                                "2000"]),
    ("init_bench", "retrain init on MNIST PNGs", ["--images", "1000"]),
    ("decision_bench", "wrong decisions of the rollout, today's rule beside", ["--quick"]),
)
VERDICTS = ("NOT met", "met", "MISS", "PASS")
LOGS = Path(".bench-logs")


def run(name: str, arguments: list[str]) -> tuple[int, float, list[str]]:
    """Run one benchmark, its table passed through as it comes; its exit code, seconds and stdout lines."""
    LOGS.mkdir(exist_ok=True)
    started = time.perf_counter()
    with (LOGS / f"{name}.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", *arguments], stdout=subprocess.PIPE,
                                   stderr=log, text=True)
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
        code = process.wait()
    return code, time.perf_counter() - started, lines


def verdicts(lines: list[str]) -> list[str]:
    """The lines that state a target met or missed."""
    return [line.strip() for line in lines if any(word in line for word in VERDICTS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check the benchmarks, not the figures")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all): "
                        + ", ".join(name for name, _, _ in BENCHMARKS))
    options = parser.parse_args()
    unknown = set(options.names) - {name for name, _, _ in BENCHMARKS}
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}")
    chosen = [b for b in BENCHMARKS if not options.names or b[0] in options.names]
    summary = []
    for name, what, quick in chosen:
        print(f"\n== {name}: {what}{' (quick sizes)' if options.quick else ''}", flush=True)
        code, seconds, lines = run(name, quick if options.quick else [])
        summary.append((name, code, seconds, verdicts(lines)))
    print("\n== summary")
    for name, code, seconds, said in summary:
        outcome = "ran" if code == 0 else f"FAILED (exit {code}, see {LOGS / name}.log)"
        missed = sum("NOT met" in line or "MISS" in line for line in said)
        counts = f"{len(said) - missed} target(s) met, {missed} missed" if said else "figures above"
        print(f"{name:<16} {outcome:<12} {seconds:>7.0f} s  {counts}")
        for line in said:
            if "NOT met" in line or "MISS" in line:
                print(f"{'':<16} missed: {' '.join(line.split())}")
    if any(code != 0 for _, code, _, _ in summary):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
