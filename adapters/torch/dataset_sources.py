"""Where a lineage's original dataset comes from, as the DatasetCatalog port reads it: `retrain init`'s source (the
bundled digits, or an ImageFolder directory split into train, validation and test), or a team's own datasets
(`model register --train/--val/--test`, `model datasets`): ImageFolder directories, or manifests of `path,label` (CSV
with that header, or JSON Lines), whose paths are local files (relative to the manifest), `s3://bucket/key` objects,
or `sha256:<hex>` blobs already in the blob store.

Either is stored as one manifest in the blob store (adapters/torch/datasets.py): the lineage's original dataset, for
rehearsal, the original validation set and the no-regression gate."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from adapters.torch.datasets import (
    IMAGE_SUFFIXES,
    ORIGINAL_SEGMENT,
    SPLIT_SHARES,
    DatasetLoader,
    digits_manifest,
    folder_image_shapes,
    imagefolder_manifest,
    infer_input,
    store_dataset,
)
from application.ports import BlobStore, OriginalDataset

SPLITS = ("train", "validation", "test")

Fetch = Callable[[str], bytes]  # reads an s3:// URL


class ManifestDatasetCatalog:
    """DatasetCatalog over the blob store: `digits` (bundled) or an ImageFolder directory path; a team's own splits
    (`fetch` reads the s3:// paths of their manifests)."""

    def __init__(self, blobs: BlobStore, fetch: Fetch | None = None) -> None:
        self.blobs = blobs
        self.loader = DatasetLoader(blobs)
        self.fetch = fetch

    def attach(self, sources: dict[str, str], classes: list[str]) -> OriginalDataset:
        return stored_original(self.blobs, sources, classes, self.fetch)

    def original(self, source: str, *, seed: int, architecture: str | None = None,
                 input_size: tuple[int, int] | None = None, channels: int | None = None) -> OriginalDataset:
        from adapters.torch.models import DIGITS_CNN, check_architecture, default_input_spec

        if architecture is not None:
            check_architecture(architecture)
        if source == "digits":
            if architecture not in (None, DIGITS_CNN) or input_size not in (None, (8, 8)) or channels not in (None, 1):
                raise ValueError("the bundled digits are 8x8 grey images for digits-cnn; --arch, --input-size and "
                                 "--channels apply to an ImageFolder directory")
            spec = default_input_spec(DIGITS_CNN)
            manifest = digits_manifest(seed)
            architecture = DIGITS_CNN
            sizes = {name: len(indices) for name, indices in manifest["splits"].items()}
        else:
            # sized and checked from the images' headers before anything is copied
            shapes = folder_image_shapes(Path(source))
            architecture, spec = infer_input(shapes, architecture=architecture, input_size=input_size,
                                             channels=channels)
            if int(shapes.total() * SPLIT_SHARES["validation"]) < 1:
                raise ValueError(f"{source} holds {shapes.total()} images: too few to split into training, "
                                 "validation and test sets (at least 7)")
            manifest = imagefolder_manifest(Path(source), self.blobs, seed)
            sizes = {name: sum(1 for i in manifest["items"] if i["split"] == name)
                     for name in ("train", "validation", "test")}
        return OriginalDataset(store_dataset(self.blobs, manifest), list(manifest["classes"]), architecture, spec,
                               sizes)


def stored_original(blobs: BlobStore, sources: dict[str, str], classes: list[str],
                    fetch: Fetch | None) -> OriginalDataset:
    """Stores the given splits (train, validation, test; any may be missing) as one manifest; ValueError in one
    sentence when a source cannot be read or its labels are not the model's classes."""
    items: list[dict[str, Any]] = []
    shapes: Counter[tuple[str, int, int]] = Counter()
    splits = {split: _entries(source, split, classes, blobs, fetch) for split, source in sources.items()}
    for split, entries in splits.items():  # every source checked first; then one image in memory at a time
        for label, read, origin in entries:
            data = read()
            shapes[_shape(data, origin)] += 1
            items.append({"image_sha256": blobs.put(data), "label": label, "image_type": ORIGINAL_SEGMENT,
                          "split": split})
    manifest = {"kind": "registered", "sources": {split: _name(src) for split, src in sources.items()},
                "classes": list(classes), "items": items}
    sizes = {split: sum(1 for item in items if item["split"] == split) for split in SPLITS}
    (mode, height, width), _ = max(shapes.items(), key=lambda item: (item[1], item[0]))
    grey = all(shape[0] == "L" for shape in shapes)
    return OriginalDataset(store_dataset(blobs, manifest), list(classes), "",
                           {"mode": "L" if grey else "RGB", "size": [height, width]}, sizes)


Entry = tuple[str, Callable[[], bytes], str]  # label, how to read the image's bytes, where it comes from


def _entries(source: str, split: str, classes: list[str], blobs: BlobStore, fetch: Fetch | None) -> list[Entry]:
    """Each image of one split's source, checked (folders against the classes, labels, rows) but not read yet, so
    that a dataset of any size is copied one image at a time."""
    path = Path(source)
    option = "--val" if split == "validation" else f"--{split}"
    if path.is_dir():
        pairs = _image_folder(path, classes)
    elif path.is_file():
        pairs = [(label, partial(_image_bytes, where, path.parent, blobs, fetch, f"{path.name} line {line}"),
                  f"{path.name} line {line}") for line, where, label in _manifest_rows(path)]
        unknown = sorted({label for label, _, _ in pairs} - set(classes))
        if unknown:
            raise ValueError(f"{option} {source} has labels that are not the model's classes: {', '.join(unknown)} "
                             f"(classes: {', '.join(classes)})")
    else:
        raise ValueError(f"{option} {source} is neither a directory (ImageFolder) nor a manifest file")
    if not pairs:
        raise ValueError(f"{option} {source} holds no PNG or JPEG image")
    return pairs


def _image_folder(root: Path, classes: list[str]) -> list[Entry]:
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if set(folders) != set(classes):
        raise ValueError(f"the class names do not match the folders of {root}: classes {', '.join(classes)}; "
                         f"folders {', '.join(folders) or '(none)'}")
    return [(label, path.read_bytes, str(path)) for label in folders for path in sorted((root / label).rglob("*"))
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()]


def _manifest_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line number, path, label) of a CSV manifest with a `path,label` header or of a JSON Lines one."""
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, str, str]] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                rows.append((number, str(record["path"]), str(record["label"])))
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path.name} line {number}: expected an object with \"path\" and \"label\"") from None
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
        raise ValueError(f"{path.name}: a CSV manifest needs a header with the columns path and label")
    for number, row in enumerate(reader, 2):
        if not row.get("path") or not row.get("label"):
            raise ValueError(f"{path.name} line {number}: path and label are both required")
        rows.append((number, row["path"], row["label"]))
    return rows


def _image_bytes(where: str, base: Path, blobs: BlobStore, fetch: Fetch | None, origin: str) -> bytes:
    if where.startswith("s3://"):
        if fetch is None:
            raise ValueError(f"{origin}: {where} is on S3, and no S3 client is configured")
        try:
            return fetch(where)
        except FileNotFoundError:
            raise ValueError(f"{origin}: {where} does not exist") from None
    if where.startswith("sha256:"):
        try:
            return blobs.get(where.removeprefix("sha256:"))
        except FileNotFoundError:
            raise ValueError(f"{origin}: {where} is not in the blob store") from None
    path = Path(where) if Path(where).is_absolute() else base / where
    if not path.is_file():
        raise ValueError(f"{origin}: {where} is not a file")
    return path.read_bytes()


def _shape(data: bytes, origin: str) -> tuple[str, int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image.mode in ("1", "L", "LA", "I", "I;16")
            return ("L" if grey else "RGB", image.height, image.width)
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"{origin}: the image does not open as PNG or JPEG") from None


def _name(source: str) -> str:
    return Path(source).name
