"""Weight files are loaded only with weights_only=True: pickled code, truncation and foreign files get a clear error."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from adapters.torch.models import build_model, load_model, load_state_dict, state_dict_bytes


class RunsACommand:
    """A pickle that would run a shell command when unpickled without weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_weights_file_carrying_pickled_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"features.0.weight": torch.zeros(1), "payload": RunsACommand(marker)}, buffer)

    with pytest.raises(ValueError, match="weights_only=True"):
        load_state_dict(buffer.getvalue())
    assert not marker.exists()


def test_a_plain_pickle_of_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ValueError, match="weights_only=True"):
        load_state_dict(pickle.dumps(RunsACommand(marker), protocol=2))
    assert not marker.exists()


def test_a_truncated_weights_file_is_refused() -> None:
    weights = state_dict_bytes(build_model("digits-cnn", 10))
    with pytest.raises(ValueError, match="weights_only=True"):
        load_state_dict(weights[: len(weights) // 2])


def test_a_state_dict_of_another_shape_is_refused_in_one_sentence() -> None:
    with pytest.raises(ValueError, match="tensor shapes differ") as refused:
        load_model(state_dict_bytes(build_model("digits-cnn", 3)), "digits-cnn", 10)
    assert "\n" not in str(refused.value)


def test_valid_weights_load_into_their_architecture() -> None:
    model = build_model("digits-cnn", 10)
    loaded = load_model(state_dict_bytes(model), "digits-cnn", 10)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
