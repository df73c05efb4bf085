"""TorchEvaluator's paired counts (rule 4.6): on the same items, which only the parent gets right (b) and which only
the candidate (c), on the validation set, the original test set and each image type; counted again here from each
model's own predictions."""

from __future__ import annotations

import pytest
import torch

from adapters.torch.datasets import ORIGINAL_SEGMENT, DatasetLoader, TensorSplit
from adapters.torch.evaluator import TorchEvaluator
from adapters.torch.models import DIGITS_CNN, build_model, default_input_spec, load_model, state_dict_bytes
from application.ports import ModelRef
from tests.fakes import InMemoryBlobStore
from tests.torch_support import DIGIT_CLASSES, curated_digits, one_torch_thread, parent_ref, small_digits

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)
CPU = torch.device("cpu")


def right(blobs: InMemoryBlobStore, ref: ModelRef, data: TensorSplit) -> list[bool]:
    model = load_model(blobs.get(ref.artifact_sha256), DIGITS_CNN, len(DIGIT_CLASSES)).eval()
    with torch.inference_mode():
        return (model(data.x).argmax(dim=1) == data.y).tolist()


def counted(parent: list[bool], candidate: list[bool]) -> dict[str, int]:
    return {"n": len(parent), "b": sum(p and not c for p, c in zip(parent, candidate, strict=True)),
            "c": sum(c and not p for p, c in zip(parent, candidate, strict=True))}


def test_the_paired_counts_are_those_of_each_models_predictions_on_the_same_items() -> None:
    blobs = InMemoryBlobStore()
    torch.manual_seed(1)
    parent, candidate = (parent_ref(blobs.put(state_dict_bytes(build_model(DIGITS_CNN, 10))), label)
                         for label in ("v1", "v2"))
    curated = curated_digits(blobs, {"validation": list(range(1000, 1040))}, image_type="phone")
    original = small_digits(blobs, validation=60, test=100)

    comparison = TorchEvaluator(blobs, latency_calls=2, device=CPU).compare(parent, candidate, curated, original)

    loader, spec = DatasetLoader(blobs), default_input_spec(DIGITS_CNN)
    sets = {"phone": loader.split(curated, "validation", spec, DIGIT_CLASSES),
            ORIGINAL_SEGMENT: loader.split(original, "validation", spec, DIGIT_CLASSES),
            "test": loader.split(original, "test", spec, DIGIT_CLASSES)}
    expected = {name: counted(right(blobs, parent, data), right(blobs, candidate, data)) for name, data in sets.items()}
    paired = comparison.paired
    assert paired["per_image_type"] == {"phone": expected["phone"], ORIGINAL_SEGMENT: expected[ORIGINAL_SEGMENT]}
    assert paired["test"] == expected["test"]
    assert paired["validation"] == {key: expected["phone"][key] + expected[ORIGINAL_SEGMENT][key] for key in "nbc"}
    assert paired["validation"]["b"] + paired["validation"]["c"] > 0  # two different models disagree somewhere
    for figure, key in (("validation_accuracy", "validation"), ("test_accuracy", "test")):
        counts = paired[key]
        difference = getattr(comparison.candidate, figure) - getattr(comparison.parent, figure)
        assert abs((counts["c"] - counts["b"]) / counts["n"] - difference) < 2e-6


def test_a_model_against_itself_disagrees_nowhere_and_without_an_original_dataset_there_is_no_test_count() -> None:
    blobs = InMemoryBlobStore()
    torch.manual_seed(2)
    weights = blobs.put(state_dict_bytes(build_model(DIGITS_CNN, 10)))
    curated = curated_digits(blobs, {"validation": list(range(1000, 1030))}, image_type="phone")

    comparison = TorchEvaluator(blobs, latency_calls=2, device=CPU).compare(
        parent_ref(weights, "v1"), parent_ref(weights, "v2"), curated, None)

    assert comparison.paired == {"validation": {"n": 30, "b": 0, "c": 0},
                                 "per_image_type": {"phone": {"n": 30, "b": 0, "c": 0}}}
