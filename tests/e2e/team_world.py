"""A team's world for the "bring your own model" tests: its own CNN package, trained outside retrain on real MNIST and
saved as its training script saves it, its MNIST folders, and its users sending scikit-learn's digits (another
scanner, other writers, scaled to 28x28: a real shift) through `retrain predict`, then their feedback."""

from __future__ import annotations

import base64
import io
import json
import random
import subprocess
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from tests.e2e.cli import run as run_cli

# Latencies here are real, measured by `retrain predict` on a shared 2-core machine where other processes preempt
# single forward passes for tens of milliseconds: the rollout's latency check (a threshold on two means) is loosened,
# so that these tests judge the team's path, not the machine's load.
LOOSE_LATENCY = {"RETRAIN_ROLLOUT__LATENCY_FACTOR": "20"}


def run(home: Path, *args: str, settings: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`retrain` as the team runs it, with the loosened latency check."""
    return run_cli(home, *args, settings=LOOSE_LATENCY | (settings or {}))

TEAM_NETS = '''
"""The team's own classifier: not a torchvision model."""
import torch
from torch import nn


class LeNetish(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 7 * 7, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build(num_classes: int = 10, width: int = 16) -> nn.Module:
    return LeNetish(num_classes, width)
'''


def write_team_package(root: Path, name: str = "teamvision") -> Path:
    """`<root>/<name>/nets.py`, importable as `<name>.nets` once `root` is on the path (--arch-path)."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(TEAM_NETS))
    return root


def png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_mnist_folders(root: Path, sizes: dict[str, int]) -> dict[str, Path]:
    """ImageFolder directories of real MNIST: train and val from MNIST's training images, test from its test set."""
    from benchmarks.mnist import load_mnist, write_imagefolder

    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    folders = {}
    start = 0
    for split in ("train", "val"):
        folders[split] = write_imagefolder(root / split, images[start:start + sizes[split]],
                                           labels[start:start + sizes[split]])
        start += sizes[split]
    folders["test"] = write_imagefolder(root / "test", test_images[:sizes["test"]], test_labels[:sizes["test"]])
    return folders


def train_team_model(package_root: Path, train_items: int, epochs: int, out: Path, seed: int = 0) -> Path:
    """What the team's own script does: train `build()` on MNIST with its own normalisation, wrap it in
    DataParallel as its multi-GPU script does, and save a checkpoint dict."""
    import sys

    import torch
    from torch import nn

    from benchmarks.mnist import load_mnist

    sys.path.insert(0, str(package_root))
    from teamvision.nets import build  # type: ignore[import-not-found]

    torch.manual_seed(seed)
    images, labels = load_mnist("train")
    x = (torch.from_numpy(images[:train_items].copy()).float().div(255) - 0.5).div(0.5).unsqueeze(1)
    y = torch.from_numpy(labels[:train_items].copy())
    model = nn.DataParallel(build())
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    torch.save({"epoch": epochs, "state_dict": model.state_dict(), "optimizer": optimiser.state_dict()}, out)
    return out


@dataclass
class DigitsUsers:
    """Users of scikit-learn's digits, each image scaled to 28x28: they rate every answer and, when it is wrong,
    most give the right label (some in a comment that the procedure must read), with their consent."""

    seed: int = 0

    def __post_init__(self) -> None:
        from PIL import Image
        from sklearn.datasets import load_digits

        digits = load_digits()
        scaled = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        self.images = [png(np.asarray(Image.fromarray(i).resize((28, 28), Image.Resampling.BILINEAR)))
                       for i in scaled]
        self.labels = [str(int(t)) for t in digits.target]
        self.rng = random.Random(self.seed)
        self.served = 0

    def send(self, home: Path, count: int, at: datetime, workdir: Path) -> dict[str, object]:
        """`count` requests through `retrain predict --requests` at `at`, then their feedback through
        `retrain ingest`; returns the answers' accuracy and the versions that served them."""
        requests, truths = [], []
        for _ in range(count):
            index = self.rng.randrange(len(self.images))
            self.served += 1
            requests.append({"image": base64.b64encode(self.images[index]).decode(),
                             "user_ref": f"user-{self.rng.randrange(5000)}", "image_type": "digits"})
            truths.append(self.labels[index])
        batch = workdir / f"requests-{self.served}.jsonl"
        batch.write_text("".join(json.dumps(r) + "\n" for r in requests))
        answered = run(home, "predict", "--requests", str(batch), "--json", "--now", at.isoformat())
        assert answered.returncode == 0, answered.stderr
        answers = json.loads(answered.stdout)
        feedback = [self.feedback(answer, truth, at + timedelta(minutes=5)) for answer, truth in zip(answers, truths,
                                                                                                      strict=True)]
        path = workdir / f"feedback-{self.served}.jsonl"
        path.write_text("".join(json.dumps(f) + "\n" for f in feedback))
        ingested = run(home, "ingest", str(path), "--now", (at + timedelta(minutes=10)).isoformat())
        assert ingested.returncode == 0, ingested.stderr
        right = sum(a["label"] == t for a, t in zip(answers, truths, strict=True))
        versions: dict[str, int] = {}
        for answer in answers:
            versions[answer["model_version"]] = versions.get(answer["model_version"], 0) + 1
        return {"accuracy": right / count, "versions": versions}

    def feedback(self, answer: dict[str, object], truth: str, at: datetime) -> dict[str, object]:
        record: dict[str, object] = {"prediction_id": answer["prediction_id"], "timestamp": at.isoformat(),
                                     "user_feedback": int(answer["label"] == truth), "gdpr_consent": True}
        if answer["label"] != truth:
            draw = self.rng.random()  # most give the label; a few say it in words (a reviewer checks those)
            if draw < 0.85:
                record["corrected_label"] = truth
            elif draw < 0.9:
                record["comment"] = f"image floue, c'est un {truth}"
            else:
                record["comment"] = "mauvais"
        return record
