"""The predictor's numpy path (no resizing needed) gives the torchvision pipeline's input, for every size form."""

from __future__ import annotations

import io
import random

import pytest
import torch
from PIL import Image

from adapters.torch.predictor import decode_image, transform_for


def png(width: int, height: int, mode: str = "L", seed: int = 0) -> bytes:
    rng = random.Random(seed)
    channels = 3 if mode == "RGB" else 1
    image = Image.frombytes(mode, (width, height), bytes(rng.randrange(256) for _ in range(width * height * channels)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pipeline(data: bytes, spec: dict) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return transform_for(spec)(image.convert(spec.get("mode", "L")))


@pytest.mark.parametrize(("data", "spec"), [
    (png(8, 8), {"mode": "L", "size": [8, 8], "mean": [0.5], "std": [0.5]}),
    (png(8, 8), {"size": 8}),
    (png(16, 16), {"mode": "L", "size": [8, 8]}),  # resized: the pipeline itself
    (png(12, 12, "RGB"), {"mode": "RGB", "size": [12, 12], "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]}),
])
def test_the_decoded_input_matches_the_torchvision_pipeline(data: bytes, spec: dict) -> None:
    fast, reference = decode_image(data, spec), pipeline(data, spec)
    assert fast.shape == reference.shape and fast.dtype == reference.dtype == torch.float32
    assert torch.allclose(fast, reference, atol=1e-6)
