"""Drift-matched rehearsal (rule 4.5, fine-tuning): how a segment's images differ from the original training images,
estimated as a camera transform (resolution, blur, brightness, noise), and copies of original images made to look
the same way.

The estimate compares image statistics (intensity quantiles, gradients, fine detail) of the segment's images with
those of the original images after each candidate transform, and keeps the transform that matches best (coordinate
descent over a grid). Nothing here knows which drift the demo or the benchmark applies: it sees only images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional

RESOLUTIONS = (1.0, 0.75, 0.5, 0.35, 0.25)
BLURS = (0.0, 0.4, 0.7, 1.0, 1.3, 1.7, 2.2)
BRIGHTNESSES = tuple(round(0.3 + 0.1 * i, 2) for i in range(11))  # 0.3 .. 1.3
NOISES = (0.0, 0.02, 0.04, 0.06, 0.09, 0.12, 0.16)
SAMPLE = 256  # images of each side compared
MIN_IMAGES = 10  # a segment with fewer images is not estimated
MIN_GAIN = 0.25  # the transform must remove at least this share of the distance to count as a drift


@dataclass(frozen=True)
class DriftEstimate:
    """The transform that makes original images look like a segment's, and how well it matches."""

    segment: str
    images: int
    resolution: float
    blur_sigma: float
    brightness: float
    noise_sigma: float
    distance_before: float
    distance_after: float

    @property
    def is_drift(self) -> bool:
        """The segment differs from the original images, and the transform explains a good part of it."""
        return (self.distance_after <= (1 - MIN_GAIN) * self.distance_before
                and (self.resolution, self.blur_sigma, self.brightness, self.noise_sigma) != (1.0, 0.0, 1.0, 0.0))

    def record(self) -> dict[str, float | int | str | bool]:
        """What the training config records (rounded: the figures are estimates)."""
        return {**{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()},
                "is_drift": self.is_drift}


def features(images: torch.Tensor) -> torch.Tensor:
    """Per-set statistics of images in [0, 1] (N x C x H x W): intensity quantiles, mean gradient, fine detail."""
    grey = images.mean(dim=1, keepdim=True)
    flat = grey.flatten(1)
    quantiles = torch.quantile(flat, torch.tensor([0.5, 0.9, 0.98]), dim=1).T  # N x 3
    dx = (grey[..., :, 1:] - grey[..., :, :-1]).abs().flatten(1).mean(1)
    dy = (grey[..., 1:, :] - grey[..., :-1, :]).abs().flatten(1).mean(1)
    detail = (grey - _blur(grey, 1.0)).abs().flatten(1).mean(1)
    per_image = torch.cat([flat.mean(1, keepdim=True), flat.std(1, keepdim=True), quantiles,
                           (dx + dy).unsqueeze(1), detail.unsqueeze(1)], dim=1)
    return per_image.mean(0)


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((((a - b) / (b.abs() + 0.02)) ** 2).sum())


def apply_drift(images: torch.Tensor, *, resolution: float, blur_sigma: float, brightness: float, noise_sigma: float,
                generator: torch.Generator) -> torch.Tensor:
    """The images in [0, 1] as the drifted camera would take them: lower resolution, blur, darker or brighter, noise."""
    out = images
    height, width = images.shape[-2:]
    if resolution < 1.0:
        small = (max(2, round(height * resolution)), max(2, round(width * resolution)))
        out = functional.interpolate(out, size=small, mode="area")
        out = functional.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
    if blur_sigma > 0:
        out = _blur(out, blur_sigma)
    out = out * brightness
    if noise_sigma > 0:
        out = out + noise_sigma * torch.randn(out.shape, generator=generator)
    return out.clamp(0.0, 1.0)


def estimate_drift(segment: str, original: torch.Tensor, drifted: torch.Tensor, *, seed: int) -> DriftEstimate:
    """The camera transform that best turns `original` images into look-alikes of `drifted` ones (both in [0, 1])."""
    generator = torch.Generator().manual_seed(seed)
    reference = original[torch.randperm(len(original), generator=generator)[:SAMPLE]]
    target = features(drifted[torch.randperm(len(drifted), generator=generator)[:SAMPLE]])
    small = min(original.shape[-2:]) < 16  # tiny images have no resolution to lose
    grids = {"resolution": (1.0,) if small else RESOLUTIONS, "blur_sigma": BLURS, "brightness": BRIGHTNESSES,
             "noise_sigma": NOISES}
    params = {"resolution": 1.0, "blur_sigma": 0.0, "brightness": 1.0, "noise_sigma": 0.0}

    def cost(candidate: dict[str, float]) -> float:
        return distance(features(apply_drift(reference, **candidate,
                                             generator=torch.Generator().manual_seed(seed))), target)

    before = best = cost(params)
    for _ in range(3):  # coordinate descent: each parameter over its grid, the others fixed
        changed = False
        for name, grid in grids.items():
            for value in grid:
                trial = {**params, name: value}
                if trial != params and (trial_cost := cost(trial)) < best - 1e-9:
                    params, best, changed = trial, trial_cost, True
        if not changed:
            break
    return DriftEstimate(segment, len(drifted), params["resolution"], params["blur_sigma"], params["brightness"],
                         params["noise_sigma"], round(before, 6), round(best, 6))


def drift_like(images: torch.Tensor, estimate: DriftEstimate, generator: torch.Generator) -> torch.Tensor:
    """Copies of `images` (in [0, 1]) drifted like the segment, each with its parameters jittered around the estimate
    so the model sees the drift's range, not one point of it."""
    copies = []
    for image in images.split(1):
        jitter = torch.rand(3, generator=generator) * 0.4 + 0.8  # x 0.8 .. 1.2
        copies.append(apply_drift(image, resolution=estimate.resolution,
                                  blur_sigma=estimate.blur_sigma * float(jitter[0]),
                                  brightness=min(1.5, estimate.brightness * float(jitter[1])),
                                  noise_sigma=estimate.noise_sigma * float(jitter[2]), generator=generator))
    return torch.cat(copies) if copies else images


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = functional.pad(images, (radius, radius, 0, 0), mode="replicate")
    out = functional.conv2d(padded, horizontal, groups=channels)
    padded = functional.pad(out, (0, 0, radius, radius), mode="replicate")
    return functional.conv2d(padded, vertical, groups=channels)
