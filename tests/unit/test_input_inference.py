"""Inputs sized to the data: the architecture and input spec `retrain init --dataset` infers from a folder's images."""

from collections import Counter

import pytest
import torch

from adapters.torch.datasets import infer_input
from adapters.torch.models import DIGITS_CNN, SMALL_CNN, build_model


def shapes(*items: tuple[str, int, int, int]) -> Counter[tuple[str, int, int]]:
    return Counter({(mode, height, width): count for mode, height, width, count in items})


@pytest.mark.parametrize(("found", "architecture", "mode", "size"), [
    (shapes(("L", 8, 8, 1797)), DIGITS_CNN, "L", [8, 8]),              # the digits' own size
    (shapes(("L", 9, 9, 10)), SMALL_CNN, "L", [9, 9]),                 # just over: small-cnn
    (shapes(("L", 28, 28, 5000)), SMALL_CNN, "L", [28, 28]),           # MNIST stays grey 28x28
    (shapes(("L", 64, 64, 10)), SMALL_CNN, "L", [64, 64]),             # at the boundary: still small
    (shapes(("L", 65, 65, 10)), "resnet18", "RGB", [65, 65]),          # just over: a photo-sized grey image
    (shapes(("RGB", 28, 28, 10)), "resnet18", "RGB", [32, 32]),        # colour: scaled up to torchvision's minimum
    # the most common, longer side 224
    (shapes(("RGB", 480, 640, 7), ("RGB", 600, 800, 3)), "resnet18", "RGB", [168, 224]),
    (shapes(("L", 28, 28, 9), ("RGB", 28, 28, 1)), "resnet18", "RGB", [32, 32]),  # one colour image: colour
])
def test_the_input_is_inferred_from_the_images(found, architecture, mode, size) -> None:
    chosen, spec = infer_input(found, architecture=None, input_size=None, channels=None)
    assert (chosen, spec["mode"], spec["size"]) == (architecture, mode, size)


def test_the_caller_overrides_size_and_channels() -> None:
    chosen, spec = infer_input(shapes(("L", 512, 512, 3)), architecture=None, input_size=(96, 96), channels=1)
    assert (chosen, spec["mode"], spec["size"]) == (SMALL_CNN, "L", [96, 96])
    chosen, spec = infer_input(shapes(("L", 28, 28, 3)), architecture="resnet18", input_size=None, channels=None)
    assert (chosen, spec["mode"], spec["size"]) == ("resnet18", "RGB", [32, 32])


@pytest.mark.parametrize(("architecture", "input_size", "channels", "named"), [
    (DIGITS_CNN, None, 3, "digits-cnn takes grey images"),
    (SMALL_CNN, None, 3, "small-cnn takes grey images"),
    (SMALL_CNN, (3, 3), 1, "small-cnn needs images of at least 4x4"),
    ("resnet18", (31, 64), None, "at least 32x32"),
    ("resnet18", None, 1, "takes colour images"),
    ("no-such-net", None, None, "unknown architecture"),
])
def test_what_an_architecture_cannot_take_is_refused(architecture, input_size, channels, named) -> None:
    with pytest.raises(ValueError, match=named):
        infer_input(shapes(("RGB", 40, 40, 3)), architecture=architecture, input_size=input_size, channels=channels)


def test_an_empty_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="no PNG or JPEG"):
        infer_input(Counter(), architecture=None, input_size=None, channels=None)


@pytest.mark.parametrize("architecture", [DIGITS_CNN, SMALL_CNN])
@pytest.mark.parametrize("size", [8, 28, 31])
def test_the_grey_architectures_take_images_of_any_size_with_the_same_weights(architecture: str, size: int) -> None:
    model = build_model(architecture, 10)
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 10)
    reference = build_model(architecture, 10)
    reference.load_state_dict(model.state_dict(), strict=True)
