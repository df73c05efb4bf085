"""Predictor with torch: decodes images safely, converts them to the model's input, and classifies them."""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2

from adapters.torch.models import load_model
from application.ports import BlobStore, ImageDecodeError, ModelRef, Prediction

MAX_PIXELS = 40_000_000  # beyond this an image is treated as a decompression bomb


def decode_image(data: bytes, input_spec: dict[str, Any]) -> torch.Tensor:
    """Bytes -> the model's input tensor (C x H x W), or ImageDecodeError with one clear reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ImageDecodeError("image is too large")
                image.load()
                converted = image.convert(input_spec.get("mode", "L"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise ImageDecodeError(f"image does not decode: {type(error).__name__}") from None
    low, high = (converted.getextrema() if converted.mode == "L" else (min(e[0] for e in converted.getextrema()),
                                                                       max(e[1] for e in converted.getextrema())))
    if low == high:
        raise ImageDecodeError("image is constant")
    return transform_for(input_spec)(converted)


def transform_for(input_spec: dict[str, Any]) -> v2.Compose:
    size = input_spec.get("size", [8, 8])
    return v2.Compose([
        v2.PILToTensor(),
        v2.Resize(size, antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(input_spec.get("mean", [0.5]), input_spec.get("std", [0.5])),
    ])


class TorchPredictor:
    """Loads versions from the blob store (cached by artifact sha256) and classifies images on CPU or GPU."""

    def __init__(self, blobs: BlobStore, device: str | None = None) -> None:
        self.blobs = blobs
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._models: dict[str, torch.nn.Module] = {}

    def model(self, ref: ModelRef) -> torch.nn.Module:
        """The version's network, loaded once and warmed up, so the first request is not timed with the loading."""
        if ref.artifact_sha256 not in self._models:
            artifact = self.blobs.get(ref.artifact_sha256)
            network = load_model(artifact, ref.architecture, len(ref.classes)).to(self.device)
            channels = 3 if ref.input_spec.get("mode") == "RGB" else 1
            with torch.inference_mode():
                network(torch.zeros(1, channels, *ref.input_spec.get("size", [8, 8]), device=self.device))
            self._models[ref.artifact_sha256] = network
        return self._models[ref.artifact_sha256]

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]:
        network = self.model(model)
        results = []
        with torch.inference_mode():
            for image in images:
                started = time.perf_counter()
                batch = decode_image(image, model.input_spec).unsqueeze(0).to(self.device)
                probabilities = torch.softmax(network(batch), dim=1)[0]
                confidence, index = probabilities.max(dim=0)
                elapsed = (time.perf_counter() - started) * 1000
                results.append(Prediction(model.classes[int(index)], round(float(confidence), 6), round(elapsed, 3)))
        return results

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None:
        decode_image(image, input_spec)

    def check_weights(self, artifact: bytes, architecture: str, input_spec: dict[str, Any], classes: list[str]) -> None:
        load_model(artifact, architecture, len(classes))
