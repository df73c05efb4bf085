"""`retrain init --dataset DIR` on real MNIST PNGs, as a new user runs it: time, peak memory, accuracy, progress.

Run: `.venv/bin/python -m benchmarks.init_bench [--images 5000]`. It writes the first N images of MNIST's training
file as an ImageFolder of PNGs (cached under .bench-cache/), runs `retrain init --dataset` in a subprocess with its
stderr piped (not a terminal), and reports the wall-clock time, the child's peak RSS, the test accuracy it recorded,
the longest wait between two epoch lines on stderr, and the input it inferred. The baseline is a raw loop of the same
model over the same images already in memory (no PNGs, no blob store, no logs), timed in the same run.
Targets (issue 11): <= 3 minutes, < 2 GB, >= 97 % test accuracy, an epoch line at least every 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.mnist import load_mnist, write_imagefolder

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
RETRAIN = Path(sys.executable).with_name("retrain")


def folder(images: int) -> Path:
    root = CACHE / f"mnist-{images}"
    if not (root / ".complete").exists():
        x, y = load_mnist("train")
        write_imagefolder(root, x[:images], y[:images])
        (root / ".complete").write_text("")
    return root


def run_init(dataset: Path, home: Path) -> dict[str, float | str]:
    """The CLI in a subprocess; stderr read line by line as it arrives, to time the gaps between epoch lines."""
    started = time.monotonic()
    process = subprocess.Popen([str(RETRAIN), "--home", str(home), "init", "--dataset", str(dataset)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    arrivals: list[float] = []
    lines: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if '"event": "epoch"' in line or '"event":"epoch"' in line:
                arrivals.append(time.monotonic())

    reader = threading.Thread(target=read_stderr)
    reader.start()
    stdout = process.communicate()[0]
    reader.join()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"retrain init failed ({process.returncode}): {''.join(lines[-5:])}")
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    shown = json.loads(subprocess.run([str(RETRAIN), "--home", str(home), "models", "show", "v1", "--json"],
                                      capture_output=True, text=True, check=True).stdout)
    gaps = np.diff([started, *arrivals]) if arrivals else np.array([seconds])
    spec = shown["input_spec"]
    return {"seconds": seconds, "rss_mb": rss_mb, "test_accuracy": shown["metrics"]["test_accuracy"],
            "epochs": len(arrivals), "max_gap": float(gaps.max()), "stdout": stdout.strip().splitlines()[0],
            "input": f"{shown['architecture']} {spec['size'][0]}x{spec['size'][1]} {spec['mode']}"}


def raw_loop(images: int) -> float:
    """The same architecture and epochs-free budget: 15 epochs of Adam over the tensors, nothing else."""
    import torch
    from torch import nn

    from adapters.torch.models import SMALL_CNN, build_model

    torch.manual_seed(0)
    x, y = load_mnist("train")
    n_train = int(images * 0.7)
    inputs = torch.from_numpy(x[:n_train].copy()).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
    targets = torch.from_numpy(y[:n_train])
    model = build_model(SMALL_CNN, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for _ in range(15):
        order = torch.randperm(n_train)
        for start in range(0, n_train, 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="MNIST training images written as PNGs")
    arguments = parser.parse_args(argv)
    dataset = folder(arguments.images)
    with tempfile.TemporaryDirectory(prefix="retrain-init-bench-", dir=CACHE) as home:
        figures = run_init(dataset, Path(home) / "home")
    baseline = raw_loop(arguments.images)
    print(f"retrain init --dataset <{arguments.images:,} MNIST PNGs> ({figures['input']} inferred), "
          f"stderr piped; baseline: 15 epochs of the same model over in-memory tensors")
    print(f"{'figure':<36}{'measured':>12}{'target':>12}  verdict")
    rows = [
        ("wall-clock seconds", figures["seconds"], "<= 180", figures["seconds"] <= 180),
        ("peak memory (MB, max RSS)", figures["rss_mb"], "< 2048", figures["rss_mb"] < 2048),
        ("test accuracy (%)", 100 * float(figures["test_accuracy"]), ">= 97", float(figures["test_accuracy"]) >= 0.97),
        ("longest wait for an epoch line (s)", figures["max_gap"], "<= 30", figures["max_gap"] <= 30),
        ("epoch lines", figures["epochs"], "", True),
        ("baseline: raw loop, 15 epochs (s)", baseline, "", True),
        ("ratio: init seconds / raw loop", figures["seconds"] / baseline, "", True),
    ]
    for name, value, target, passed in rows:
        print(f"{name:<36}{value:>12.1f}{target:>12}  {('PASS' if passed else 'MISS') if target else ''}")
    return 0 if all(passed for _, _, target, passed in rows if target) else 1


if __name__ == "__main__":
    sys.exit(main())
