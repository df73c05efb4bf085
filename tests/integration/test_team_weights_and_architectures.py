"""A team's model as it comes: checkpoint dicts, DataParallel prefixes, safetensors, its own nn.Module by import path;
TorchScript and whole pickled modules refused with the line that fixes them; the input spec never defaulted in
silence."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_save
from torch import nn

from adapters.torch.intake import check_outputs, first_layer_channels, settle_input_spec
from adapters.torch.models import build_model, load_weights
from adapters.torch.weights import SAVE_STATE_DICT, read_weights_file
from application.ports import IntakeRequest, OriginalDataset


def saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


@pytest.fixture()
def state() -> dict[str, torch.Tensor]:
    return build_model("digits-cnn", 10).state_dict()


def same(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> bool:
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_a_plain_state_dict_is_read_as_it_is(state: dict[str, torch.Tensor]) -> None:
    read, notes = read_weights_file(saved(state))
    assert same(read, state) and notes == []


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict", "model"])
def test_a_checkpoint_dict_gives_its_state_dict_and_says_which_key(state: dict[str, torch.Tensor], key: str) -> None:
    checkpoint = {"epoch": 7, "best_accuracy": 0.98, key: state, "optimizer": {"lr": 0.001}}
    read, notes = read_weights_file(saved(checkpoint))
    assert same(read, state)
    assert notes == [f"used the checkpoint's {key!r} entry"]


def test_dataparallel_prefixes_are_stripped_and_said(state: dict[str, torch.Tensor]) -> None:
    wrapped = nn.DataParallel(build_model("digits-cnn", 10))
    wrapped.module.load_state_dict(state)
    read, notes = read_weights_file(saved({"state_dict": wrapped.state_dict()}))
    assert same(read, state)
    assert "stripped the 'module.' prefix from every key" in notes


def test_a_prefix_only_some_keys_carry_is_kept(state: dict[str, torch.Tensor]) -> None:
    mixed = {("module." + k if i == 0 else k): v for i, (k, v) in enumerate(state.items())}
    read, notes = read_weights_file(saved(mixed))
    assert read.keys() == mixed.keys() and notes == []


def test_a_safetensors_file_is_read(state: dict[str, torch.Tensor]) -> None:
    read, notes = read_weights_file(safetensors_save({k: v.contiguous() for k, v in state.items()}))
    assert same(read, state) and notes == ["read a safetensors file"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_torchscript_file_is_refused_with_the_export_line() -> None:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(build_model("digits-cnn", 10)), buffer)
    with pytest.raises(ValueError, match="TorchScript") as refused:
        read_weights_file(buffer.getvalue())
    assert SAVE_STATE_DICT in str(refused.value) and "\n" not in str(refused.value)


def test_a_whole_pickled_module_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="weights_only=True") as refused:
        read_weights_file(saved(build_model("digits-cnn", 10)))
    assert "torch.save(model.state_dict(), path)" in str(refused.value)


def test_a_checkpoint_without_a_state_dict_names_its_keys() -> None:
    with pytest.raises(ValueError, match="no state dict under a known key \\(it has 'epoch', 'loss'"):
        read_weights_file(saved({"epoch": 1, "loss": 0.5}))


def test_a_truncated_safetensors_file_is_refused_in_one_sentence(state: dict[str, torch.Tensor]) -> None:
    data = safetensors_save({k: v.contiguous() for k, v in state.items()})
    with pytest.raises(ValueError) as refused:
        read_weights_file(data[: len(data) // 2])
    assert "\n" not in str(refused.value)


TEAM_PACKAGE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(width * 12 * 12, num_classes)

    def forward(self, x):
        return self.head(torch.flatten(torch.relu(self.conv(x)), 1))


def build(num_classes: int, width: int = 4) -> nn.Module:
    return Net(num_classes, width)


def fixed(width: int = 4) -> nn.Module:
    return Net(3, width)


def not_a_module() -> list:
    return []


def broken(num_classes: int) -> nn.Module:
    raise RuntimeError("no GPU in this test")
'''


@pytest.fixture()
def team_path(tmp_path: Path) -> str:
    package = tmp_path / "teamnets_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(TEAM_PACKAGE))
    return str(tmp_path)


def test_a_team_architecture_is_built_from_its_import_path_with_its_kwargs(team_path: str) -> None:
    model = build_model("teamnets_pkg.nets:build", 5, {"kwargs": {"width": 6}, "path": team_path})
    assert type(model).__name__ == "Net" and model.conv.out_channels == 6 and model.head.out_features == 5


def test_num_classes_is_passed_only_to_a_callable_that_takes_it(team_path: str) -> None:
    assert build_model("teamnets_pkg.nets:fixed", 10, {"path": team_path}).head.out_features == 3


@pytest.mark.parametrize(("architecture", "message"), [
    ("teamnets_pkg.nets:missing", "teamnets_pkg.nets has no callable 'missing'"),
    ("teamnets_pkg.nets:not_a_module", "returned a list, not a torch nn.Module"),
    ("teamnets_pkg.nets:broken", "raised RuntimeError: no GPU in this test"),
    ("no_such_team_package.nets:build", "cannot import no_such_team_package.nets: No module named"),
    ("teamnets_pkg.nets:build()", "is not an import path of the form package.module:callable"),
])
def test_a_team_architecture_that_cannot_be_built_is_one_sentence(team_path: str, architecture: str,
                                                                   message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("(", "\\(").replace(")", "\\)")) as refused:
        build_model(architecture, 10, {"path": team_path})
    assert "\n" not in str(refused.value)


def request(spec: dict | None, dataset_spec: dict | None = None, architecture: str = "small-cnn") -> IntakeRequest:
    dataset = OriginalDataset("d", ["a", "b"], "", dataset_spec, {}) if dataset_spec else None
    return IntakeRequest(b"", architecture, {}, ["a", "b"], spec, dataset)


def test_the_size_comes_from_the_datasets_and_the_mode_from_the_first_layer() -> None:
    spec, notes = settle_input_spec(request(None, {"mode": "RGB", "size": [28, 28]}), channels=1)
    assert spec == {"mode": "L", "size": [28, 28], "mean": [0.5], "std": [0.5]}
    assert notes[:2] == ["mode L from the model's first layer", "size 28x28 from the datasets' images"]
    assert "normalisation not given" in notes[2]


def test_without_datasets_or_a_size_the_registration_is_refused_not_defaulted() -> None:
    with pytest.raises(ValueError, match="cannot tell the input size of small-cnn: give --input-spec"):
        settle_input_spec(request(None), channels=1)


def test_digits_cnn_takes_its_native_size_and_says_so() -> None:
    spec, notes = settle_input_spec(request(None, architecture="digits-cnn"), channels=1)
    assert spec["size"] == [8, 8] and "size 8x8 from digits-cnn's native size" in notes


def test_a_given_mode_that_the_first_layer_contradicts_is_refused_naming_both() -> None:
    with pytest.raises(ValueError,
                       match="--input-spec says mode RGB \\(3 channels\\) but the model's first layer takes 1"):
        settle_input_spec(request({"mode": "RGB", "size": [28, 28]}), channels=1)


def test_a_partial_spec_keeps_what_it_gives() -> None:
    spec, notes = settle_input_spec(request({"mean": [0.1307], "std": [0.3081]}, {"mode": "L", "size": [28, 28]}),
                                    channels=1)
    assert spec == {"mode": "L", "size": [28, 28], "mean": [0.1307], "std": [0.3081]}
    assert not any("normalisation" in note for note in notes)


def test_outputs_that_are_not_one_per_class_are_refused() -> None:
    model = load_weights(build_model("small-cnn", 10), build_model("small-cnn", 10).state_dict())
    check_outputs(model, {"mode": "L", "size": [28, 28]}, 10)
    with pytest.raises(ValueError, match="outputs of shape \\[10\\] for 3 classes"):
        check_outputs(model, {"mode": "L", "size": [28, 28]}, 3)


def test_an_input_size_the_model_cannot_take_is_refused_with_the_fix(team_path: str) -> None:
    model = build_model("teamnets_pkg.nets:build", 2, {"path": team_path})
    with pytest.raises(ValueError, match="the model does not take 1x28x28 inputs .*give --input-spec"):
        check_outputs(model, {"mode": "L", "size": [28, 28]}, 2)
    assert first_layer_channels(model) == 1
