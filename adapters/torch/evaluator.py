"""Evaluator with torch (rule 4.6): parent and candidate measured side by side, in one run, on one machine."""

from __future__ import annotations

import time
from collections import defaultdict

import torch
from scipy.stats import trim_mean

from adapters.torch.datasets import ORIGINAL_SEGMENT, DatasetLoader, TensorSplit
from adapters.torch.fitting import pick_device
from adapters.torch.models import load_model
from application.ports import BlobStore, Comparison, ModelRef
from domain.payloads import PairedCounts, PairedItems
from domain.rules.validation_gates import ModelFigures

_BATCH = 512
LATENCY_TRIM = 0.1  # the share of calls left out at each end of a latency mean


class TorchEvaluator:
    """Validation accuracy (curated + original validation), original test accuracy, interleaved latency."""

    def __init__(self, blobs: BlobStore, *, latency_calls: int = 200, device: torch.device | None = None) -> None:
        self.blobs = blobs
        self.loader = DatasetLoader(blobs)
        self.latency_calls = latency_calls
        self.device = device or pick_device()

    def compare(
        self, parent: ModelRef, candidate: ModelRef, dataset_id: str, original_dataset_id: str | None = None
    ) -> Comparison:
        validation, test = self._sets(candidate, dataset_id, original_dataset_id)
        models = {ref.label: load_model(self.blobs.get(ref.artifact_sha256), ref.architecture, len(ref.classes))
                  .to(self.device) for ref in (parent, candidate)}
        latency = self.latencies(models[parent.label], models[candidate.label], validation)
        right = {label: (self._right(model, validation), self._right(model, test)) for label, model in models.items()}
        figures = {
            label: ModelFigures(validation_accuracy=_share(right[label][0]), test_accuracy=_share(right[label][1]),
                                latency_ms=None if latency is None else round(latency[index], 6))
            for index, label in enumerate(models)
        }
        by_type = _by_type(validation)
        per_type = {image_type: {label: _share(_part(right[label][0], indices)) for label in models}
                    | {"items": len(indices)} for image_type, indices in by_type.items()}
        validation_sets = [dataset_id, *([original_dataset_id] if original_dataset_id else [])]
        measured_on = {
            "validation_accuracy": {"datasets": validation_sets, "split": "validation", "items": len(validation)},
            "test_accuracy": {"datasets": validation_sets[1:], "split": "test",
                              "items": len(test) if test is not None else 0},
            "latency_ms": {"datasets": validation_sets, "split": "validation",
                           "calls": self.latency_calls if latency is not None else 0},
        }
        return Comparison(figures[parent.label], figures[candidate.label], per_type, measured_on,
                          _paired_items(right[parent.label], right[candidate.label], by_type))

    def _sets(self, candidate: ModelRef, dataset_id: str,
              original_dataset_id: str | None) -> tuple[TensorSplit, TensorSplit | None]:
        """The validation set (the curated split and the original one) and the original test set, if any."""
        spec, classes = candidate.input_spec, candidate.classes
        validation = self.loader.split(dataset_id, "validation", spec, classes)
        if not original_dataset_id:
            return validation, None
        original = self.loader.split(original_dataset_id, "validation", spec, classes)
        # one segment, whatever its manifest says (older ImageFolder manifests said "unknown", as traffic does)
        return (_joined(validation, original.as_segment(ORIGINAL_SEGMENT)),
                self.loader.split(original_dataset_id, "test", spec, classes))

    def _right(self, model: torch.nn.Module, data: TensorSplit | None) -> torch.Tensor | None:
        """Which items the model gets right (the accuracies and the paired counts come from it); None when there is
        nothing to measure on: no figure over 0 items."""
        if data is None or not len(data):
            return None
        model.eval()
        with torch.inference_mode():
            predicted = torch.cat([model(data.x[start:start + _BATCH].to(self.device)).argmax(dim=1).cpu()
                                   for start in range(0, len(data), _BATCH)])
        return predicted == data.y

    def latencies(self, parent: torch.nn.Module, candidate: torch.nn.Module,
                  data: TensorSplit) -> tuple[float, float] | None:
        """Mean single-image latency of each, over `latency_calls` calls after a warm-up; None without an image to
        time. The calls are interleaved, parent and candidate taking turns at going first, and each mean is trimmed
        of its slowest and fastest `LATENCY_TRIM` of calls, so that the few calls another process preempts on a busy
        machine do not decide the gate (docs/decisions.md)."""
        sample = data.x[:1].to(self.device) if len(data) else None
        if sample is None:
            return None
        timings: tuple[list[float], list[float]] = ([], [])
        models = (parent, candidate)
        with torch.inference_mode():
            for model in models:
                for _ in range(10):
                    model(sample)
            for call in range(self.latency_calls):
                image = data.x[call % len(data)].unsqueeze(0).to(self.device)
                for index in ((0, 1) if call % 2 == 0 else (1, 0)):
                    started = time.perf_counter()
                    models[index](image)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    timings[index].append((time.perf_counter() - started) * 1000)
        return float(trim_mean(timings[0], LATENCY_TRIM)), float(trim_mean(timings[1], LATENCY_TRIM))


def _share(right: torch.Tensor | None) -> float | None:
    """The share of items right (an accuracy), as exact as a float division of the counts; None over no item."""
    return round(int(right.sum()) / len(right), 6) if right is not None and len(right) else None


def _part(right: torch.Tensor | None, indices: list[int]) -> torch.Tensor | None:
    return None if right is None else right[indices]


def _counts(parent: torch.Tensor, candidate: torch.Tensor) -> PairedCounts:
    """Both models on the same items: n, b the items only the parent got right, c those only the candidate did."""
    return PairedCounts(n=len(parent), b=int((parent & ~candidate).sum()), c=int((~parent & candidate).sum()))


def _paired_items(parent: tuple[torch.Tensor | None, torch.Tensor | None],
                  candidate: tuple[torch.Tensor | None, torch.Tensor | None],
                  by_type: dict[str, list[int]]) -> PairedItems:
    """The paired counts on the validation set, the original test set and each image type (none over 0 items)."""
    paired = PairedItems()
    (parent_validation, parent_test), (candidate_validation, candidate_test) = parent, candidate
    if parent_validation is not None and candidate_validation is not None:
        paired["validation"] = _counts(parent_validation, candidate_validation)
        paired["per_image_type"] = {image_type: _counts(parent_validation[indices], candidate_validation[indices])
                                    for image_type, indices in by_type.items()}
    if parent_test is not None and candidate_test is not None:
        paired["test"] = _counts(parent_test, candidate_test)
    return paired


def _joined(curated: TensorSplit, original: TensorSplit) -> TensorSplit:
    """The curated validation split and the original one; either may be empty, or both (then nothing is measured)."""
    return TensorSplit.concat(curated, original) if len(curated) or len(original) else curated


def _by_type(data: TensorSplit) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, image_type in enumerate(data.image_types):
        groups[image_type].append(index)
    return dict(groups)
