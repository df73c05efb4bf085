"""The real MNIST files (IDX, gzip) read with numpy, and written out as an ImageFolder of PNGs.

The files live in ../shared/data/mnist/ beside the repository; RETRAIN_MNIST_DIR points at any other copy of the
four files (train-images-idx3-ubyte.gz and the like, with '-' or '.' before 'idx').
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def mnist_dir() -> Path:
    return Path(os.environ.get("RETRAIN_MNIST_DIR", DEFAULT_DIR))


def _idx(path_stem: str) -> np.ndarray:
    folder = mnist_dir()
    candidates = [folder / f"{path_stem.replace('-idx', sep + 'idx')}.gz" for sep in (".", "-")]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise FileNotFoundError(f"MNIST file {path_stem} not found in {folder} (set RETRAIN_MNIST_DIR)")
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels of the `train` (60,000) or `test` (10,000) split."""
    prefix = "train" if split == "train" else "t10k"
    return _idx(f"{prefix}-images-idx3-ubyte"), _idx(f"{prefix}-labels-idx1-ubyte").astype(np.int64)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_imagefolder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """One sub-directory per class, one PNG per image: the layout `retrain init --dataset` takes."""
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:05d}.png").write_bytes(png_bytes(image))
    return root
