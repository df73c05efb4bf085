"""The bundled digits as a team keeps its original datasets: ImageFolder directories (one sub-directory per class) of
8x8 grey PNGs, in the bundled train/validation/test split, for `model register --train --val --test`."""

from __future__ import annotations

from pathlib import Path


def digits_folders(root: Path) -> list[str]:
    """Writes `root/{train,val,test}/<digit>/<index>.png` and returns the register options naming them."""
    from PIL import Image

    from adapters.torch.datasets import digits_images, digits_manifest

    images, labels = digits_images()
    options = []
    for split, folder in (("train", "train"), ("validation", "val"), ("test", "test")):
        for index in digits_manifest(seed=0)["splits"][split]:
            directory = root / folder / str(int(labels[index]))
            directory.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[index], mode="L").save(directory / f"{index}.png")
        options += [f"--{folder}", str(root / folder)]
    return options
