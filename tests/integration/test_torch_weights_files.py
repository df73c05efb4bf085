"""Weight files are loaded only with weights_only=True: pickled code, truncation and foreign files get a clear error."""

from __future__ import annotations

import io
import os
import pickle
import random
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
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_state_dict(pickle.dumps(RunsACommand(marker), protocol=2))
    assert not marker.exists()


def test_a_truncated_weights_file_is_refused() -> None:
    weights = state_dict_bytes(build_model("digits-cnn", 10))
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_state_dict(weights[: len(weights) // 2])


def test_a_state_dict_of_another_shape_is_refused_in_one_sentence() -> None:
    with pytest.raises(ValueError, match="tensor shapes differ") as refused:
        load_model(state_dict_bytes(build_model("digits-cnn", 3)), "digits-cnn", 10)
    assert "\n" not in str(refused.value)


def test_valid_weights_load_into_their_architecture() -> None:
    model = build_model("digits-cnn", 10)
    loaded = load_model(state_dict_bytes(model), "digits-cnn", 10)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"hello world", bytes(range(7)), b"",
                                     b"PK\x03\x04" + b"\x00" * 40])
def test_a_file_that_is_not_weights_at_all_is_refused_in_one_sentence(content: bytes) -> None:
    with pytest.raises(ValueError, match="not a PyTorch weights file") as refused:
        load_state_dict(content)
    assert "\n" not in str(refused.value)


def test_corrupted_weights_files_are_each_refused_with_a_value_error_never_another_exception() -> None:
    """1,024 copies of a real weights file with a few bytes changed or the end cut off: each one loads exactly
    (a byte of a tensor's data changed) or is refused with ValueError; no IndexError, KeyError or struct.error."""
    good = state_dict_bytes(build_model("digits-cnn", 10))
    rng = random.Random(0)
    escaped: dict[str, int] = {}
    for _ in range(1024):
        corrupt = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
        if rng.random() < 0.3:
            corrupt = corrupt[: rng.randrange(len(corrupt))]
        try:
            load_model(bytes(corrupt), "digits-cnn", 10)
        except ValueError:
            pass
        except Exception as error:  # noqa: BLE001 - what the test counts
            escaped[type(error).__name__] = escaped.get(type(error).__name__, 0) + 1
    assert escaped == {}


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused(bad: float) -> None:
    model = build_model("digits-cnn", 10)
    state = model.state_dict()
    first = next(key for key, tensor in state.items() if tensor.is_floating_point())
    state[first].fill_(bad)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with pytest.raises(ValueError, match=f"NaN or infinite values \\(first: {first}\\)"):
        load_state_dict(buffer.getvalue())
