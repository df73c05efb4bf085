"""A team's model coming in (`retrain model register`): its weights file read in whatever form it takes, the input
spec settled from what is known (never a silent default), and the model measured on its own datasets."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from adapters.torch.datasets import DatasetLoader, TensorSplit
from adapters.torch.fitting import pick_device, score
from adapters.torch.models import (
    DIGITS_CNN,
    DIGITS_INPUT_SPEC,
    RGB_INPUT_SPEC,
    build_model,
    load_weights,
    state_dict_bytes,
)
from adapters.torch.weights import read_weights_file
from application.ports import BlobStore, IntakeReport, IntakeRequest

NATIVE_SIZES = {DIGITS_CNN: [8, 8]}  # an architecture built for one input size (the bundled digits)
MODES = {1: "L", 3: "RGB"}


class TorchModelIntake:
    """Reads the weights, settles the input spec, checks one forward pass per dataset split, and measures accuracy
    on the validation and test splits."""

    def __init__(self, blobs: BlobStore, device: torch.device | None = None) -> None:
        self.loader = DatasetLoader(blobs)
        self.device = device or pick_device()

    def check_weights(self, weights: bytes, architecture: str, architecture_options: dict[str, Any],
                      classes: list[str]) -> None:
        load_weights(build_model(architecture, len(classes), architecture_options), read_weights_file(weights)[0])

    def admit(self, request: IntakeRequest) -> IntakeReport:
        state, notes = read_weights_file(request.weights)
        model = load_weights(build_model(request.architecture, len(request.classes), request.architecture_options),
                             state)
        spec, spec_notes = settle_input_spec(request, first_layer_channels(model))
        check_outputs(model, spec, len(request.classes))
        measured: dict[str, dict[str, Any]] = {}
        if request.dataset is not None:
            model = model.to(self.device)
            for split in ("train", "validation", "test"):
                data = self.loader.split(request.dataset.dataset_id, split, spec, request.classes)
                if len(data):
                    measured[split] = self._measure(model, data, spec, split, len(request.classes))
        return IntakeReport(state_dict_bytes(model), spec, notes + spec_notes, measured)

    def _measure(self, model: nn.Module, data: TensorSplit, spec: dict[str, Any], split: str,
                 classes: int) -> dict[str, Any]:
        if split == "train":  # the training split is checked, not measured: one batch
            data = data.subset(list(range(min(len(data), 256))))
        with torch.inference_mode():
            outputs = model(data.x[:2].to(self.device))
        if outputs.ndim != 2 or outputs.shape[1] != classes:
            raise ValueError(f"on the {split} images the model gives outputs of shape {list(outputs.shape[1:])}, "
                             f"not {classes} (one per class)")
        if split == "train":
            return {"items": len(data), "checked": True}
        return {"accuracy": round(score(model, data, self.device)[0], 6), "items": len(data)}


def first_layer_channels(model: nn.Module) -> int | None:
    """The channels the model's first convolution takes, if it starts with one."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return int(module.in_channels)
        if isinstance(module, nn.Linear):
            return None
    return None


def settle_input_spec(request: IntakeRequest, channels: int | None) -> tuple[dict[str, Any], list[str]]:
    """Mode, size and normalisation: from --input-spec where given, else the model's first layer (channels) and the
    datasets' images (size), else the architecture's native size; refused in one sentence when unknown or when two
    sources disagree."""
    given = dict(request.input_spec or {})
    seen = dict(request.dataset.input_spec) if request.dataset is not None else {}
    notes: list[str] = []
    mode = given.get("mode")
    if mode is not None and mode not in ("L", "RGB"):
        raise ValueError(f"--input-spec mode must be L (grey) or RGB, not {mode!r}")
    if channels is not None and channels not in MODES:
        raise ValueError(f"the model's first layer takes {channels} channels: only 1 (grey) or 3 (RGB) images exist")
    layer_mode = MODES.get(channels) if channels is not None else None
    if mode is not None and layer_mode is not None and mode != layer_mode:
        raise ValueError(f"--input-spec says mode {mode} ({3 if mode == 'RGB' else 1} channels) but the model's first "
                         f"layer takes {channels}")
    if mode is None:
        mode = layer_mode or seen.get("mode")
        if mode is None:
            raise ValueError("cannot tell whether the model takes grey or colour images: give --input-spec "
                             "'{\"mode\": \"L\"}' (or RGB)")
        notes.append(f"mode {mode} from " + ("the model's first layer" if layer_mode else "the datasets' images"))
    size = given.get("size")
    if size is None:
        size = seen.get("size") or NATIVE_SIZES.get(request.architecture)
        if size is None:
            raise ValueError(f"cannot tell the input size of {request.architecture}: give --input-spec "
                             "'{\"size\": [HEIGHT, WIDTH]}', or the datasets it was trained on (--train/--val/--test)")
        source = "the datasets' images" if seen.get("size") else f"{request.architecture}'s native size"
        notes.append(f"size {size[0]}x{size[1]} from {source}")
    size = [size, size] if isinstance(size, int) else list(size)
    if len(size) != 2 or not all(isinstance(s, int) and 1 <= s <= 4096 for s in size):
        raise ValueError(f"--input-spec size must be [HEIGHT, WIDTH] in pixels, not {size!r}")
    defaults = DIGITS_INPUT_SPEC if mode == "L" else RGB_INPUT_SPEC
    if "mean" not in given or "std" not in given:
        notes.append(f"normalisation not given: mean {defaults['mean']}, std {defaults['std']} (pass the values your "
                     "training used in --input-spec)")
    spec = {"mode": mode, "size": size, "mean": given.get("mean", defaults["mean"]),
            "std": given.get("std", defaults["std"])}
    width = 1 if mode == "L" else 3
    for key in ("mean", "std"):
        values = spec[key]
        if not isinstance(values, list) or len(values) not in (1, width) or \
                not all(isinstance(v, int | float) for v in values) or (key == "std" and min(values) <= 0):
            raise ValueError(f"--input-spec {key} must be a list of {width} number(s){' > 0' if key == 'std' else ''}")
    return spec, notes


def check_outputs(model: nn.Module, spec: dict[str, Any], classes: int) -> None:
    """One forward pass on an input of the spec's shape gives one output per class."""
    channels = 1 if spec["mode"] == "L" else 3
    sample = torch.zeros(2, channels, *spec["size"])
    try:
        with torch.inference_mode():
            outputs = model.cpu().eval()(sample)
    except Exception as error:  # noqa: BLE001 - a shape error surfaces as RuntimeError, ValueError, ...
        first = (str(error).splitlines() or [""])[0][:200]
        raise ValueError(f"the model does not take {channels}x{spec['size'][0]}x{spec['size'][1]} inputs ({first}): "
                         "give --input-spec with the size and mode it was trained on") from None
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2 or outputs.shape[1] != classes:
        shape = list(outputs.shape[1:]) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise ValueError(f"the model gives outputs of shape {shape} for {classes} classes (--classes): "
                         "it needs one output per class")
