"""Evaluator with torch (rule 4.6): parent and candidate measured side by side, in one run, on one machine."""

from __future__ import annotations

import math
import time
from collections import defaultdict

import torch

from adapters.torch.datasets import ORIGINAL_SEGMENT, DatasetLoader, TensorSplit
from adapters.torch.fitting import accuracy, pick_device
from adapters.torch.models import load_model
from application.ports import BlobStore, Comparison, ModelRef
from domain.rules.validation_gates import ModelFigures


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
        spec, classes = candidate.input_spec, candidate.classes
        curated_validation = self.loader.split(dataset_id, "validation", spec, classes)
        validation, test = curated_validation, None
        if original_dataset_id:
            original = self.loader.split(original_dataset_id, "validation", spec, classes)
            # one segment, whatever its manifest says (older ImageFolder manifests said "unknown", as traffic does)
            validation = _joined(curated_validation, original.as_segment(ORIGINAL_SEGMENT))
            test = self.loader.split(original_dataset_id, "test", spec, classes)
        models = {ref.label: load_model(self.blobs.get(ref.artifact_sha256), ref.architecture, len(ref.classes))
                  .to(self.device) for ref in (parent, candidate)}
        latency = self.latencies(models[parent.label], models[candidate.label], validation)
        figures = {
            label: ModelFigures(
                validation_accuracy=self._accuracy(model, validation),
                test_accuracy=self._accuracy(model, test),
                latency_ms=None if latency is None else round(latency[index], 6),
            )
            for index, (label, model) in enumerate(models.items())
        }
        per_type = {
            image_type: {label: round(accuracy(model, validation.subset(indices), self.device), 6)
                         for label, model in models.items()} | {"items": len(indices)}
            for image_type, indices in _by_type(validation).items()
        }
        validation_sets = [dataset_id, *([original_dataset_id] if original_dataset_id else [])]
        measured_on = {
            "validation_accuracy": {"datasets": validation_sets, "split": "validation", "items": len(validation)},
            "test_accuracy": {"datasets": [original_dataset_id] if original_dataset_id else [], "split": "test",
                              "items": len(test) if test is not None else 0},
            "latency_ms": {"datasets": validation_sets, "split": "validation",
                           "calls": self.latency_calls if latency is not None else 0},
        }
        return Comparison(figures[parent.label], figures[candidate.label], per_type, measured_on)

    def _accuracy(self, model: torch.nn.Module, data: TensorSplit | None) -> float | None:
        """No figure over 0 items: None when there is nothing to measure on."""
        return round(accuracy(model, data, self.device), 6) if data is not None and len(data) else None

    def latencies(self, parent: torch.nn.Module, candidate: torch.nn.Module,
                  data: TensorSplit) -> tuple[float, float] | None:
        """Mean single-image latency of each, over `latency_calls` calls after a warm-up, interleaved; None without
        an image to time."""
        sample = data.x[:1].to(self.device) if len(data) else None
        if sample is None:
            return None
        timings: tuple[list[float], list[float]] = ([], [])
        with torch.inference_mode():
            for model in (parent, candidate):
                for _ in range(10):
                    model(sample)
            for call in range(self.latency_calls):
                for index, model in enumerate((parent, candidate)):
                    image = data.x[call % len(data)].unsqueeze(0).to(self.device)
                    started = time.perf_counter()
                    model(image)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    timings[index].append((time.perf_counter() - started) * 1000)
        return (math.fsum(timings[0]) / len(timings[0]), math.fsum(timings[1]) / len(timings[1]))


def _joined(curated: TensorSplit, original: TensorSplit) -> TensorSplit:
    """The curated validation split and the original one; either may be empty, or both (then nothing is measured)."""
    return TensorSplit.concat(curated, original) if len(curated) or len(original) else curated


def _by_type(data: TensorSplit) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, image_type in enumerate(data.image_types):
        groups[image_type].append(index)
    return dict(groups)
