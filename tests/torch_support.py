"""Small real data for the torch adapters' tests: a slice of the bundled digits, and digit images as PNGs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from adapters.torch.datasets import digits_images, digits_manifest, store_dataset
from adapters.torch.models import DIGITS_CNN, default_input_spec
from application.ports import BlobStore, ModelRef, TrainingRequest

DIGIT_CLASSES = [str(d) for d in range(10)]
FAST = {"learning_rate": 1e-3, "max_epochs": 2, "patience": 3, "batch_size": 32}


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models train as fast on one thread, and do not stall (OpenMP spinning) when other processes share
    the two cores: a 2-thread run of the torch features took 142 s under load, a 1-thread run 14 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_digits(blobs: BlobStore, *, train: int = 240, validation: int = 80, test: int = 80) -> str:
    """The bundled digits' own split, cut down to a few hundred images: seconds of training on a CPU."""
    manifest = digits_manifest(seed=0)
    sizes = {"train": train, "validation": validation, "test": test}
    manifest["splits"] = {name: indices[:sizes[name]] for name, indices in manifest["splits"].items()}
    return store_dataset(blobs, manifest)


def digit_png(index: int, transform: Any = None) -> bytes:
    """Digit `index` of the bundled set as an 8x8 grey PNG, through `transform` (a PIL image function) if given."""
    from PIL import Image

    images, _ = digits_images()
    image = Image.fromarray(images[index], mode="L")
    if transform is not None:
        image = transform(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def curated_digits(blobs: BlobStore, indices: dict[str, list[int]], *, image_type: str = "phone",
                   transform: Any = None) -> str:
    """A curated dataset manifest (as curation writes one) of real digit images, by split."""
    _, labels = digits_images()
    items = [
        {"item": f"{split}-{i}", "prediction_id": f"{split}-{i}", "image_sha256": blobs.put(digit_png(i, transform)),
         "image_type": image_type, "label": str(int(labels[i])), "label_source": "corrected_label", "split": split,
         "review": "accepted"}
        for split, chosen in indices.items() for i in chosen
    ]
    return store_dataset(blobs, {"classes": DIGIT_CLASSES, "input_spec": default_input_spec(DIGITS_CNN),
                                 "items": items})


def first_request(original: str, *, seed: int = 0, **config: Any) -> TrainingRequest:
    return TrainingRequest.first_model(architecture=DIGITS_CNN, classes=DIGIT_CLASSES,
                                       input_spec=default_input_spec(DIGITS_CNN), original_dataset_id=original,
                                       config={**FAST, **config}, seed=seed)


def parent_ref(artifact_sha256: str, label: str = "v1") -> ModelRef:
    return ModelRef(f"id-{label}", label, DIGITS_CNN, default_input_spec(DIGITS_CNN), list(DIGIT_CLASSES),
                    artifact_sha256)

