"""The training loop's learning-rate schedule, read from its epoch lines: halved after each epoch that did not lower
the validation loss when a plateau factor is set, constant otherwise."""

from __future__ import annotations

import json

import pytest
import torch

from adapters.torch.datasets import TensorSplit, digits_images
from adapters.torch.fitting import fit, seed_everything
from adapters.torch.models import DIGITS_CNN, build_model
from tests.torch_support import one_torch_thread

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


def digits(start: int, stop: int) -> TensorSplit:
    images, labels = digits_images()
    x = torch.from_numpy(images[start:stop]).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
    return TensorSplit(x, torch.from_numpy(labels[start:stop]), [""] * (stop - start))


def epochs_of(capsys: pytest.CaptureFixture[str], plateau_factor: float | None) -> list[dict[str, float]]:
    """Eight epochs at a learning rate high enough for a small set to overfit, so some epochs do not improve."""
    generator = seed_everything(0)
    fit(build_model(DIGITS_CNN, 10), digits(0, 120), digits(120, 200), learning_rate=0.02, max_epochs=8, patience=8,
        batch_size=16, generator=generator, device=torch.device("cpu"), label="probe", plateau_factor=plateau_factor)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "epoch"]


def test_the_learning_rate_is_halved_after_each_epoch_that_did_not_lower_the_validation_loss(
        capsys: pytest.CaptureFixture[str]) -> None:
    epochs = epochs_of(capsys, 0.5)
    assert len(epochs) == 8 and epochs[0]["learning_rate"] == 0.02
    best, halved, kept = float("inf"), 0, 0
    for before, after in zip(epochs, epochs[1:], strict=False):
        improved = before["validation_loss"] < best
        best = min(best, before["validation_loss"])
        expected = before["learning_rate"] * (1 if improved else 0.5)
        assert after["learning_rate"] == pytest.approx(expected), (before, after)
        halved, kept = halved + (not improved), kept + improved
    assert halved and kept, epochs  # the run shows both cases


def test_without_a_plateau_factor_the_learning_rate_stays(capsys: pytest.CaptureFixture[str]) -> None:
    assert {epoch["learning_rate"] for epoch in epochs_of(capsys, None)} == {0.02}
