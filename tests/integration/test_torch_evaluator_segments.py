"""TorchEvaluator's figures per image type (rule 4.6, gate 4): the original validation set is one segment, `original`,
never pooled with the traffic's own segments, and never with the items that came without a segment (`unknown`)."""

from __future__ import annotations

import pytest
import torch

from adapters.torch.datasets import ORIGINAL_SEGMENT, digits_images, store_dataset
from adapters.torch.evaluator import TorchEvaluator
from adapters.torch.models import DIGITS_CNN, build_model, state_dict_bytes
from tests.fakes import InMemoryBlobStore
from tests.torch_support import DIGIT_CLASSES, curated_digits, digit_png, one_torch_thread, parent_ref, small_digits

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


def models(blobs: InMemoryBlobStore) -> tuple:
    torch.manual_seed(0)
    parent, candidate = (blobs.put(state_dict_bytes(build_model(DIGITS_CNN, 10))) for _ in range(2))
    return parent_ref(parent, "v1"), parent_ref(candidate, "v2")


def test_the_bundled_digits_validation_set_is_reported_as_the_original_segment() -> None:
    blobs = InMemoryBlobStore()
    curated = curated_digits(blobs, {"validation": list(range(1000, 1030))}, image_type="phone")
    parent, candidate = models(blobs)

    figures = TorchEvaluator(blobs, latency_calls=5, device=torch.device("cpu")).compare(
        parent, candidate, curated, small_digits(blobs, validation=80))

    assert {segment: f["items"] for segment, f in figures.per_image_type.items()} == {ORIGINAL_SEGMENT: 80, "phone": 30}
    assert set(figures.per_image_type[ORIGINAL_SEGMENT]) == {"v1", "v2", "items"}


def test_an_imagefolder_original_stored_as_unknown_is_not_pooled_with_traffic_that_has_no_segment() -> None:
    """ImageFolder manifests stored before this change mark their items "unknown", the image type of a prediction
    sent without one: the figures keep them apart."""
    blobs = InMemoryBlobStore()
    _, labels = digits_images()
    items = [{"image_sha256": blobs.put(digit_png(i)), "label": str(int(labels[i])), "image_type": "unknown",
              "split": "validation"} for i in range(60)]
    original = store_dataset(blobs, {"kind": "imagefolder", "source": "mnist", "seed": 0, "classes": DIGIT_CLASSES,
                                     "items": items})
    curated = curated_digits(blobs, {"validation": list(range(1000, 1025))}, image_type="unknown")
    parent, candidate = models(blobs)

    figures = TorchEvaluator(blobs, latency_calls=5, device=torch.device("cpu")).compare(
        parent, candidate, curated, original)

    assert {segment: f["items"] for segment, f in figures.per_image_type.items()} == {ORIGINAL_SEGMENT: 60,
                                                                                       "unknown": 25}
