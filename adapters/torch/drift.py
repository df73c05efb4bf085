"""A drifted phone camera, with torchvision transforms: blur, low light and sensor noise on grey digit images."""

from __future__ import annotations

import io

import torch
from PIL import Image
from torchvision.transforms import v2

BLUR = v2.GaussianBlur(kernel_size=3, sigma=(0.9, 1.3))
BRIGHTNESS = 0.55  # low light: the whole image darker
NOISE_SIGMA = 0.06


def phone_camera_drift(image: Image.Image, generator: torch.Generator) -> Image.Image:
    """The image as the changed phone camera takes it; `generator` makes the noise reproducible."""
    tensor = v2.functional.to_dtype(v2.functional.to_image(image), torch.float32, scale=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        tensor = BLUR(tensor)
    tensor = v2.functional.adjust_brightness(tensor, BRIGHTNESS)
    tensor = (tensor + NOISE_SIGMA * torch.randn(tensor.shape, generator=generator)).clamp(0.0, 1.0)
    return v2.functional.to_pil_image(tensor)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
