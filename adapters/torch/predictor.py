"""Predictor with torch: decodes images safely, converts them to the model's input, and classifies them."""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2

from adapters.images import MAX_PIXELS
from adapters.torch.models import load_model
from application.ports import BlobStore, ImageDecodeError, ModelRef, Prediction


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
    size = input_spec.get("size", [8, 8])
    if [converted.height, converted.width] == ([size, size] if isinstance(size, int) else list(size)):
        # no resizing to do: the same arithmetic as the pipeline, in numpy
        return _normalised(converted, input_spec)
    return transform_for(input_spec)(converted)


def _normalised(image: Image.Image, input_spec: dict[str, Any]) -> torch.Tensor:
    """PILToTensor, ToDtype(scale=True) and Normalize of `transform_for`, without its per-call overhead."""
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255)
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    mean = np.asarray(input_spec.get("mean", [0.5]), dtype=np.float32)[:, None, None]
    std = np.asarray(input_spec.get("std", [0.5]), dtype=np.float32)[:, None, None]
    return torch.from_numpy(np.ascontiguousarray((pixels - mean) / std))


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

    def __init__(self, blobs: BlobStore, device: str | None = None, threads: int | None = None) -> None:
        if threads is not None:  # a server: batches bring the throughput, threads would only contend
            torch.set_num_threads(threads)
        self.blobs = blobs
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._models: dict[str, torch.nn.Module] = {}

    def model(self, ref: ModelRef) -> torch.nn.Module:
        """The version's network, loaded once and warmed up, so the first request is not timed with the loading."""
        if ref.artifact_sha256 not in self._models:
            artifact = self.blobs.get(ref.artifact_sha256)
            network = load_model(artifact, ref.architecture, len(ref.classes), ref.architecture_options).to(self.device)
            channels = 3 if ref.input_spec.get("mode") == "RGB" else 1
            with torch.inference_mode():
                network(torch.zeros(1, channels, *ref.input_spec.get("size", [8, 8]), device=self.device))
            self._models[ref.artifact_sha256] = network
        return self._models[ref.artifact_sha256]

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]:
        """One forward pass for all the images. Each prediction's inference_ms is its own decoding plus its share
        of the forward pass, so a batch of one and a batch of many report comparable figures."""
        network = self.model(model)
        decoded, decoding_ms = [], []
        for image in images:
            started = time.perf_counter()
            decoded.append(decode_image(image, model.input_spec))
            decoding_ms.append((time.perf_counter() - started) * 1000)
        if not decoded:
            return []
        started = time.perf_counter()
        with torch.inference_mode():
            probabilities = torch.softmax(network(torch.stack(decoded).to(self.device)), dim=1).cpu()
        share_ms = (time.perf_counter() - started) * 1000 / len(decoded)
        confidences, indexes = probabilities.max(dim=1)
        return [Prediction(model.classes[int(index)], round(float(confidence), 6), round(ms + share_ms, 3))
                for confidence, index, ms in zip(confidences.tolist(), indexes.tolist(), decoding_ms, strict=True)]

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None:
        decode_image(image, input_spec)

    def check_weights(self, artifact: bytes, architecture: str, input_spec: dict[str, Any], classes: list[str],
                      architecture_options: dict[str, Any] | None = None) -> None:
        load_model(artifact, architecture, len(classes), architecture_options)
