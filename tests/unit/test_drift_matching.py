"""Drift-matched rehearsal: the camera transform estimated from a segment's images, and copies made to look alike."""

import pytest
import torch

from adapters.torch.datasets import digits_images
from adapters.torch.drift_matching import apply_drift, drift_like, estimate_drift


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    images, _ = digits_images()
    return torch.from_numpy(images).float().div(255).unsqueeze(1)


def test_a_known_camera_transform_is_recovered(digits: torch.Tensor) -> None:
    drifted = apply_drift(digits[1000:1300], resolution=1.0, blur_sigma=1.0, brightness=0.6, noise_sigma=0.06,
                          generator=torch.Generator().manual_seed(1))
    estimate = estimate_drift("phone", digits[:900], drifted, seed=0)
    assert estimate.is_drift and estimate.distance_after < 0.25 * estimate.distance_before
    assert abs(estimate.brightness - 0.6) <= 0.2 and abs(estimate.blur_sigma - 1.0) <= 0.7
    assert abs(estimate.noise_sigma - 0.06) <= 0.05
    assert estimate.record()["is_drift"] is True and estimate.record()["images"] == 300


def test_images_like_the_original_ones_are_no_drift(digits: torch.Tensor) -> None:
    estimate = estimate_drift("scan", digits[:900], digits[1000:1300], seed=0)
    assert not estimate.is_drift


def test_drifted_copies_keep_shape_and_range(digits: torch.Tensor) -> None:
    drifted = apply_drift(digits[1000:1300], resolution=1.0, blur_sigma=1.0, brightness=0.6, noise_sigma=0.06,
                          generator=torch.Generator().manual_seed(1))
    estimate = estimate_drift("phone", digits[:900], drifted, seed=0)
    copies = drift_like(digits[:50], estimate, torch.Generator().manual_seed(2))
    assert copies.shape == digits[:50].shape and float(copies.min()) >= 0 and float(copies.max()) <= 1
    again = drift_like(digits[:50], estimate, torch.Generator().manual_seed(2))
    assert torch.equal(copies, again)  # the same seed, the same copies
