"""TorchEvaluator reports what each figure was measured on, and computes no figure over 0 items (rule 4.6): without
an original test set there is no test accuracy, without any validation image no validation accuracy and no latency.
The fake evaluator (tests/fakes.py) reports the same shapes."""

from __future__ import annotations

import pytest
import torch

from adapters.torch.evaluator import TorchEvaluator
from adapters.torch.models import DIGITS_CNN, build_model, state_dict_bytes
from application.ports import Comparison
from tests.fakes import FakeEvaluator, InMemoryBlobStore
from tests.torch_support import curated_digits, one_torch_thread, parent_ref, small_digits

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)
CPU = torch.device("cpu")


def compare(blobs: InMemoryBlobStore, curated: str, original: str | None) -> Comparison:
    torch.manual_seed(0)
    parent, candidate = (blobs.put(state_dict_bytes(build_model(DIGITS_CNN, 10))) for _ in range(2))
    return TorchEvaluator(blobs, latency_calls=5, device=CPU).compare(
        parent_ref(parent, "v1"), parent_ref(candidate, "v2"), curated, original)


def figures_of(comparison: Comparison) -> dict[str, tuple[float | None, float | None]]:
    return {name: (getattr(comparison.parent, name), getattr(comparison.candidate, name))
            for name in ("validation_accuracy", "test_accuracy", "latency_ms")}


def test_without_an_original_dataset_there_is_no_test_accuracy_and_it_says_0_test_items() -> None:
    blobs = InMemoryBlobStore()
    comparison = compare(blobs, curated_digits(blobs, {"validation": list(range(1000, 1030))}), None)

    figures = figures_of(comparison)
    assert figures["test_accuracy"] == (None, None)
    assert all(isinstance(value, float) for value in (*figures["validation_accuracy"], *figures["latency_ms"]))
    assert comparison.measured_on["test_accuracy"]["items"] == 0
    assert comparison.measured_on["validation_accuracy"]["items"] == 30


def test_without_any_validation_image_nothing_is_measured_on_it_and_nothing_fails() -> None:
    blobs = InMemoryBlobStore()
    comparison = compare(blobs, curated_digits(blobs, {"train": list(range(1000, 1030))}), None)

    assert figures_of(comparison) == {"validation_accuracy": (None, None), "test_accuracy": (None, None),
                                      "latency_ms": (None, None)}
    assert comparison.measured_on["validation_accuracy"]["items"] == 0
    assert comparison.measured_on["latency_ms"]["calls"] == 0
    assert comparison.per_image_type == {}


def test_with_an_original_dataset_each_figure_names_its_items() -> None:
    blobs = InMemoryBlobStore()
    original = small_digits(blobs, validation=40, test=100)
    comparison = compare(blobs, curated_digits(blobs, {"validation": list(range(1000, 1030))}), original)

    assert all(value is not None for pair in figures_of(comparison).values() for value in pair)
    assert comparison.measured_on["validation_accuracy"]["items"] == 70
    assert comparison.measured_on["test_accuracy"]["items"] == 100
    assert comparison.measured_on["latency_ms"]["calls"] == 5


def test_the_fake_evaluator_reports_the_same_shapes_without_an_original_dataset() -> None:
    fake = FakeEvaluator()
    fake.curated_validation_items = 0
    comparison = fake.compare(parent_ref("a", "v1"), parent_ref("b", "v2"), "curated", None)

    assert figures_of(comparison) == {"validation_accuracy": (None, None), "test_accuracy": (None, None),
                                      "latency_ms": (None, None)}
    assert (comparison.measured_on["validation_accuracy"]["items"], comparison.measured_on["test_accuracy"]["items"],
            comparison.measured_on["latency_ms"]["calls"]) == (0, 0, 0)
