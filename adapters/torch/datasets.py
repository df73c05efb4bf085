"""Datasets as manifests in the blob store: the bundled digits, ImageFolder directories, curated campaign data."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapters.torch.predictor import decode_image
from application.curation import manifest_bytes
from application.ports import BlobStore, ImageDecodeError

SPLIT_SHARES = {"train": 0.7, "validation": 0.15}  # of every original dataset; the rest is the test set
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
ORIGINAL_SEGMENT = "original"  # the image type of a lineage's original items in per-image-type figures


@dataclass(frozen=True)
class TensorSplit:
    """Inputs, class indices, and each item's image type."""

    x: torch.Tensor
    y: torch.Tensor
    image_types: list[str]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @staticmethod
    def concat(*parts: TensorSplit) -> TensorSplit:
        parts = tuple(p for p in parts if len(p))
        if not parts:
            raise ValueError("no data")
        return TensorSplit(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]),
                           [t for p in parts for t in p.image_types])

    def subset(self, indices: list[int]) -> TensorSplit:
        index = torch.tensor(indices, dtype=torch.long)
        return TensorSplit(self.x[index], self.y[index], [self.image_types[i] for i in indices])

    def as_segment(self, image_type: str) -> TensorSplit:
        """The same items, all of one image type."""
        return TensorSplit(self.x, self.y, [image_type] * len(self))


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 bundled 8x8 digits as uint8 grey images (0-255) and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def digits_manifest(seed: int = 0) -> dict[str, Any]:
    """A deterministic train/validation/test split of the digits, by seed."""
    _, labels = digits_images()
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    n_train = int(len(order) * SPLIT_SHARES["train"])
    n_val = int(len(order) * SPLIT_SHARES["validation"])
    return {
        "kind": "digits", "source": "sklearn.datasets.load_digits", "seed": seed,
        "classes": [str(d) for d in range(10)],
        "splits": {"train": sorted(order[:n_train]), "validation": sorted(order[n_train:n_train + n_val]),
                   "test": sorted(order[n_train + n_val:])},
    }


def imagefolder_manifest(root: Path, blobs: BlobStore, seed: int = 0) -> dict[str, Any]:
    """An ImageFolder directory (one sub-directory per class) stored in the blob store, split 70/15/15 by seed."""
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{root} needs one sub-directory per class, at least two")
    items = []
    for label in classes:
        for path in sorted((root / label).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                items.append({"image_sha256": blobs.put(path.read_bytes()), "label": label,
                              "image_type": ORIGINAL_SEGMENT})
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_train, n_val = int(len(order) * SPLIT_SHARES["train"]), int(len(order) * SPLIT_SHARES["validation"])
    for rank, index in enumerate(order):
        items[index]["split"] = "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
    return {"kind": "imagefolder", "source": str(root.name), "seed": seed, "classes": classes, "items": items}


def folder_image_shapes(root: Path) -> Counter[tuple[str, int, int]]:
    """How many images of each (mode, height, width) an ImageFolder directory holds, read from their headers only
    (L for any grey mode); the images that do not open are left to the copy, which refuses them."""
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    shapes: Counter[tuple[str, int, int]] = Counter()
    for path in root.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            try:
                with Image.open(path) as image:
                    grey = image.mode in ("1", "L", "LA", "I", "I;16")  # a palette may hold colours: not grey
                    shapes[("L" if grey else "RGB", image.height, image.width)] += 1
            except (UnidentifiedImageError, OSError):
                continue
    return shapes


def infer_input(shapes: Counter[tuple[str, int, int]], *, architecture: str | None, input_size: tuple[int, int] | None,
                channels: int | None) -> tuple[str, dict[str, Any]]:
    """The architecture and input spec for a folder's images, sized to the data unless the caller says otherwise.

    Grey images (every one grey) get 1 channel and colour images 3. Grey images of at most 64 pixels a side are
    trained at their own size: digits-cnn up to 8 pixels, small-cnn above (MNIST stays 28x28). Larger images or
    colour go to resnet18, at the most common size scaled so that its longer side is at most 224 and its shorter
    side at least 32."""
    from adapters.torch.models import (
        DIGITS_CNN,
        GREY_ARCHITECTURES,
        MAX_INFERRED_SIZE,
        MIN_TORCHVISION_SIZE,
        SMALL_CNN,
        check_architecture,
        input_spec_for,
    )

    if architecture is not None:
        check_architecture(architecture)
    if not shapes:
        raise ValueError("the folder holds no PNG or JPEG image that opens")
    grey = all(mode == "L" for mode, _, _ in shapes)
    (_, height, width), _ = max(shapes.items(), key=lambda item: (item[1], item[0]))
    if architecture is None:
        if channels == 1 or (channels is None and grey and max(height, width) <= 64):
            architecture = DIGITS_CNN if max(height, width) <= 8 else SMALL_CNN
        else:
            architecture = "resnet18"
    if channels is None:  # a torchvision model takes grey images converted to colour
        channels = 1 if grey and architecture in GREY_ARCHITECTURES else 3
    if input_size is None:
        input_size = (height, width)
        if architecture not in GREY_ARCHITECTURES:
            scale = min(1.0, MAX_INFERRED_SIZE / max(height, width))
            scale = max(scale, MIN_TORCHVISION_SIZE / min(height, width))
            input_size = (max(MIN_TORCHVISION_SIZE, round(height * scale)),
                          max(MIN_TORCHVISION_SIZE, round(width * scale)))
    return architecture, input_spec_for(architecture, channels=channels, size=input_size)


def to_unit(x: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """Normalised model inputs back to pixels in [0, 1]."""
    mean, std = _stats(spec, x.shape[1])
    return x * std + mean


def from_unit(pixels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """Pixels in [0, 1] to the model's normalised inputs."""
    mean, std = _stats(spec, pixels.shape[1])
    return (pixels - mean) / std


def _stats(spec: dict[str, Any], channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(spec.get("mean", [0.5]), dtype=torch.float32).expand(channels).view(1, -1, 1, 1)
    std = torch.tensor(spec.get("std", [0.5]), dtype=torch.float32).expand(channels).view(1, -1, 1, 1)
    return mean, std


def store_dataset(blobs: BlobStore, manifest: dict[str, Any]) -> str:
    return blobs.put(manifest_bytes(manifest))


class DatasetLoader:
    """Turns a dataset manifest and a split name into tensors for a model's input spec and classes."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def manifest(self, dataset_id: str) -> dict[str, Any]:
        return json.loads(self.blobs.get(dataset_id))

    def split(self, dataset_id: str, split: str, input_spec: dict[str, Any], classes: list[str]) -> TensorSplit:
        manifest = self.manifest(dataset_id)
        index = {name: i for i, name in enumerate(classes)}
        if manifest.get("kind") == "digits":
            images, labels = digits_images()
            chosen = manifest["splits"][split]
            x = torch.from_numpy(images[chosen]).float().div(255.0).unsqueeze(1)
            mean, std = input_spec.get("mean", [0.5])[0], input_spec.get("std", [0.5])[0]
            y = torch.tensor([index[str(int(labels[i]))] for i in chosen], dtype=torch.long)
            return TensorSplit((x - mean) / std, y, [ORIGINAL_SEGMENT] * len(chosen))
        tensors, targets, types = [], [], []
        for item in manifest["items"]:
            if item.get("split") != split or item.get("review") in ("pending", "rejected"):
                continue
            try:
                tensors.append(decode_image(self.blobs.get(item["image_sha256"]), input_spec))
            except (ImageDecodeError, OSError):
                continue  # curation already excluded undecodable images; a blob lost since is skipped
            targets.append(index[item["label"]])
            types.append(item.get("image_type", "unknown"))
        if not tensors:
            shape = (0, 3 if input_spec.get("mode") == "RGB" else 1, *input_spec.get("size", [8, 8]))
            return TensorSplit(torch.empty(shape), torch.empty(0, dtype=torch.long), [])
        return TensorSplit(torch.stack(tensors), torch.tensor(targets, dtype=torch.long), types)


    def unlabelled(self, dataset_id: str, input_spec: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The consented images without a usable label that curation kept beside the dataset, per image type."""
        by_type: dict[str, list[torch.Tensor]] = {}
        for item in self.manifest(dataset_id).get("unlabelled", []):
            try:
                by_type.setdefault(item["image_type"], []).append(
                    decode_image(self.blobs.get(item["image_sha256"]), input_spec))
            except (ImageDecodeError, OSError, KeyError):
                continue
        return {image_type: torch.stack(images) for image_type, images in by_type.items()}
