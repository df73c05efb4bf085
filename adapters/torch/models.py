"""Model architectures: the built-in `digits-cnn` and `small-cnn`, any torchvision.models architecture, or a team's
own `package.module:callable` returning an `nn.Module` (its keyword arguments and search path recorded with the
version, so that every process rebuilds the same model)."""

from __future__ import annotations

import importlib
import inspect
import io
import re
import sys
from typing import Any

import torch
import torchvision
from torch import nn

from adapters.torch.weights import load_state_dict

DIGITS_CNN = "digits-cnn"
SMALL_CNN = "small-cnn"
GREY_ARCHITECTURES = (DIGITS_CNN, SMALL_CNN)
DIGITS_INPUT_SPEC: dict[str, Any] = {"mode": "L", "size": [8, 8], "mean": [0.5], "std": [0.5]}
RGB_INPUT_SPEC: dict[str, Any] = {
    "mode": "RGB", "size": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
}


MIN_TORCHVISION_SIZE = 32  # torchvision's classifiers downsample by 32
MAX_INFERRED_SIZE = 224  # photos are trained at most at this size unless --input-size says otherwise


class DigitsCNN(nn.Module):
    """A small CNN for grey images: two convolutions, one pooling, two dense layers.

    Built for the 8x8 digits; the adaptive pooling (an identity at 8x8, with no weights) lets it take grey images of
    any size, such as MNIST's 28x28, with the same weights' layout."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.AdaptiveMaxPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    """A CNN for small grey images such as MNIST's 28x28: each convolution followed by a pooling, so it costs a
    quarter of digits-cnn at that size for the same accuracy; adaptive pooling takes any size of at least 4x4."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveMaxPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def default_input_spec(architecture: str) -> dict[str, Any]:
    return dict(DIGITS_INPUT_SPEC if architecture in GREY_ARCHITECTURES else RGB_INPUT_SPEC)


IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def is_import_path(architecture: str) -> bool:
    """`package.module:callable`: a team's own architecture."""
    return ":" in architecture


def check_architecture(architecture: str) -> None:
    """ValueError in one sentence unless the name is digits-cnn, small-cnn, a torchvision.models classifier or an
    import path `package.module:callable`."""
    if is_import_path(architecture):
        if not IMPORT_PATH.fullmatch(architecture):
            raise ValueError(f"--arch {architecture!r} is not an import path of the form package.module:callable")
        return
    if architecture not in GREY_ARCHITECTURES and architecture not in torchvision.models.list_models(
            module=torchvision.models):
        raise ValueError(f"unknown architecture {architecture!r} (use digits-cnn, small-cnn, a torchvision.models "
                         "name or an import path package.module:callable)")


def channels_of(input_spec: dict[str, Any]) -> int:
    return 1 if input_spec.get("mode", "L") == "L" else 3


def input_spec_for(architecture: str, *, channels: int, size: tuple[int, int]) -> dict[str, Any]:
    """The input spec (mode, size as [height, width], normalisation) of `architecture` for images of `channels`
    and `size`; ValueError in one sentence when the architecture cannot take them."""
    check_architecture(architecture)
    height, width = size
    if min(height, width) < 1 or channels not in (1, 3):
        raise ValueError("the input size must be positive and the channels 1 (grey) or 3 (colour)")
    if architecture in GREY_ARCHITECTURES:
        if channels != 1:
            raise ValueError(f"{architecture} takes grey images (1 channel): use a torchvision architecture such as "
                             "resnet18 for colour images")
        smallest = 2 if architecture == DIGITS_CNN else 4
        if min(height, width) < smallest:
            raise ValueError(f"{architecture} needs images of at least {smallest}x{smallest} pixels")
        return {**DIGITS_INPUT_SPEC, "size": [height, width]}
    if channels != 3:
        raise ValueError(f"{architecture} takes colour images (3 channels); grey images are converted to colour "
                         "for it: use --channels 3, or digits-cnn for grey images")
    if min(height, width) < MIN_TORCHVISION_SIZE:
        raise ValueError(f"{architecture} needs images of at least {MIN_TORCHVISION_SIZE}x{MIN_TORCHVISION_SIZE} "
                         "pixels: use a larger --input-size, or small-cnn for small grey images")
    return {**RGB_INPUT_SPEC, "size": [height, width]}


def build_model(architecture: str, num_classes: int, options: dict[str, Any] | None = None) -> nn.Module:
    """A freshly initialised model of the named architecture (`options`: a team architecture's "kwargs" and
    "path")."""
    check_architecture(architecture)
    if is_import_path(architecture):
        return _team_model(architecture, num_classes, options or {})
    if architecture == DIGITS_CNN:
        return DigitsCNN(num_classes)
    if architecture == SMALL_CNN:
        return SmallCNN(num_classes)
    return torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)


def load_model(artifact: bytes, architecture: str, num_classes: int,
               options: dict[str, Any] | None = None) -> nn.Module:
    """The model with the artifact's weights, checked strictly against the architecture."""
    return load_weights(build_model(architecture, num_classes, options), load_state_dict(artifact))


def load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """`model` with these weights, checked strictly: a missing, extra or misshaped tensor is one sentence."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(_mismatch_summary(str(error))) from None
    return model.eval()


def _team_model(architecture: str, num_classes: int, options: dict[str, Any]) -> nn.Module:
    """Calls the team's `package.module:callable` with its recorded kwargs (and `num_classes` when the callable takes
    it and the kwargs do not set it); one sentence for anything that goes wrong."""
    module_name, _, attribute = architecture.partition(":")
    factory = getattr(_import(module_name, options.get("path")), attribute, None)
    if not callable(factory):
        raise ValueError(f"{module_name} has no callable {attribute!r} (--arch {architecture})")
    kwargs = dict(options.get("kwargs") or {})
    if "num_classes" not in kwargs and _accepts(factory, "num_classes"):
        kwargs["num_classes"] = num_classes
    try:
        model = factory(**kwargs)
    except Exception as error:  # noqa: BLE001 - the team's code may raise anything
        raise ValueError(f"{architecture}(**{kwargs}) raised {type(error).__name__}: {_first_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{architecture} returned a {type(model).__name__}, not a torch nn.Module")
    return model


def _import(module_name: str, path: str | None) -> Any:
    if path and path not in sys.path:
        sys.path.insert(0, path)
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        where = f" (searched --arch-path {path} and the environment)" if path else \
            " (install it in this environment, or give --arch-path DIR)"
        raise ValueError(f"cannot import {module_name}: {_first_line(error)}{where}") from None
    except Exception as error:  # noqa: BLE001 - importing the team's module runs its code
        raise ValueError(f"importing {module_name} raised {type(error).__name__}: {_first_line(error)}") from None


def _accepts(factory: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:300]


def state_dict_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def _mismatch_summary(message: str) -> str:
    """One sentence out of torch's multi-line load_state_dict report."""
    kinds = []
    if "Missing key(s)" in message:
        kinds.append("keys are missing")
    if "Unexpected key(s)" in message:
        kinds.append("unexpected keys are present")
    if "size mismatch" in message:
        first = message.split("size mismatch for ")[1].split(":")[0]
        kinds.append(f"tensor shapes differ (first: {first})")
    return "the weights do not match the architecture: " + ", ".join(kinds or ["incompatible state dict"])
