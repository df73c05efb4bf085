"""A team's datasets as it keeps them: ImageFolder directories, CSV or JSON Lines manifests whose paths are local
(relative to the manifest), on S3 (`s3://bucket/key`, read through a real S3-compatible server) or already in the blob
store (`sha256:<hex>`); stored as one original dataset whose items are the segment `original`."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import boto3
import numpy as np
import pytest

from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.torch.dataset_sources import ManifestDatasetCatalog
from adapters.torch.datasets import DatasetLoader
from application.settings import Settings
from bootstrap import build_s3_reader
from tests.e2e.team_world import png

CLASSES = ["cat", "dog"]


def image(seed: int, size: int = 12, colour: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    return png(rng.integers(0, 256, (size, size, 3) if colour else (size, size), dtype=np.uint8))


@pytest.fixture
def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def test_a_csv_manifest_takes_local_s3_and_blob_store_paths(tmp_path: Path, blobs: FilesystemBlobStore,
                                                            s3_endpoint: str, s3_location: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "a.png").write_bytes(image(1))
    bucket = urlparse(s3_location).netloc
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(Bucket=bucket, Key="team/b.png", Body=image(2))
    stored = blobs.put(image(3))
    manifest = tmp_path / "test.csv"
    manifest.write_text(f"path,label\nlocal/a.png,cat\ns3://{bucket}/team/b.png,dog\nsha256:{stored},dog\n")
    monkeypatch.setenv("RETRAIN_S3__ENDPOINT_URL", s3_endpoint)
    catalog = ManifestDatasetCatalog(blobs, fetch=build_s3_reader(Settings(home=tmp_path / "home")))

    dataset = catalog.attach({"test": str(manifest)}, CLASSES)

    assert dataset.sizes == {"train": 0, "validation": 0, "test": 3}
    assert dataset.input_spec == {"mode": "L", "size": [12, 12]}
    items = json.loads(blobs.get(dataset.dataset_id))["items"]
    assert [(i["label"], i["image_type"], i["split"]) for i in items] == [
        ("cat", "original", "test"), ("dog", "original", "test"), ("dog", "original", "test")]
    assert blobs.get(items[1]["image_sha256"]) == image(2)
    test = DatasetLoader(blobs).split(dataset.dataset_id, "test", {"mode": "L", "size": [12, 12]}, CLASSES)
    assert len(test) == 3 and test.image_types == ["original"] * 3


def test_folders_and_json_lines_make_one_dataset_with_its_splits(tmp_path: Path, blobs: FilesystemBlobStore) -> None:
    for label in CLASSES:
        (tmp_path / "train" / label).mkdir(parents=True)
        for index in range(3):
            (tmp_path / "train" / label / f"{index}.png").write_bytes(image(10 * index + len(label), colour=True))
    lines = tmp_path / "val.jsonl"
    lines.write_text("".join(json.dumps({"path": str(tmp_path / "train" / "cat" / "0.png"), "label": "cat"}) + "\n"
                             for _ in range(2)))
    dataset = ManifestDatasetCatalog(blobs).attach({"train": str(tmp_path / "train"), "validation": str(lines)},
                                                   CLASSES)
    assert dataset.sizes == {"train": 6, "validation": 2, "test": 0}
    assert dataset.input_spec["mode"] == "RGB"


@pytest.mark.parametrize(("content", "message"), [
    ("path,label\nmissing.png,cat\n", "test.csv line 2: missing.png is not a file"),
    ("file,class\na.png,cat\n", "test.csv: a CSV manifest needs a header with the columns path and label"),
    ("path,label\nsha256:" + "0" * 64 + ",cat\n", "test.csv line 2: sha256:" + "0" * 64 + " is not in the blob store"),
    ("path,label\ns3://nowhere/x.png,cat\n", "test.csv line 2: s3://nowhere/x.png is on S3, and no S3 client"),
    ("path,label\n", "holds no PNG or JPEG image"),
])
def test_a_manifest_that_cannot_be_read_names_its_line(tmp_path: Path, blobs: FilesystemBlobStore, content: str,
                                                       message: str) -> None:
    manifest = tmp_path / "test.csv"
    manifest.write_text(content)
    with pytest.raises(ValueError, match="^.*" + message.replace("(", "\\(")) as refused:
        ManifestDatasetCatalog(blobs).attach({"test": str(manifest)}, CLASSES)
    assert "\n" not in str(refused.value)


def test_an_image_that_does_not_open_is_refused_naming_its_source(tmp_path: Path, blobs: FilesystemBlobStore) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    manifest = tmp_path / "test.csv"
    manifest.write_text("path,label\nbad/x.png,cat\n")
    with pytest.raises(ValueError, match="^test.csv line 2: the image does not open as PNG or JPEG$"):
        ManifestDatasetCatalog(blobs).attach({"test": str(manifest)}, CLASSES)
