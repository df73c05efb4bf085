"""The blob store contract, on the filesystem and on S3-compatible object storage (moto's server on loopback)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.blobs.s3 import S3BlobStore
from application.ports import BlobStore, BlobStoreUnavailable
from application.settings import load_settings
from bootstrap import build_blob_store


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs")
    return S3BlobStore(request.getfixturevalue("s3_location"), endpoint_url=request.getfixturevalue("s3_endpoint"))


def test_a_blob_is_stored_under_its_sha256_and_read_back(store: BlobStore) -> None:
    data = b"\x89PNG not really" * 100
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.has(sha) and store.get(sha) == data


def test_storing_the_same_bytes_twice_changes_nothing(store: BlobStore) -> None:
    assert store.put(b"same") == store.put(b"same")
    assert store.get(hashlib.sha256(b"same").hexdigest()) == b"same"


def test_many_blobs_at_once_each_whole(store: BlobStore) -> None:
    blobs = [bytes([i]) * (1000 + i) for i in range(40)] + [b"dup", b"dup"]
    shas = store.put_many(blobs)
    assert shas == [hashlib.sha256(b).hexdigest() for b in blobs]
    assert all(store.get(sha) == data for sha, data in zip(shas, blobs, strict=True))
    assert store.put_many([], sync=False) == []


def test_many_blobs_are_read_at_once_and_those_absent_are_left_out(store: BlobStore) -> None:
    shas = store.put_many([b"first", b"second"])
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert store.get_many([shas[1], absent, shas[0], shas[1]]) == {shas[0]: b"first", shas[1]: b"second"}
    assert store.get_many([]) == {}
    assert store.missing([shas[0], absent, absent]) == {absent} and store.missing([]) == set()


def test_a_missing_blob_is_not_found_and_a_malformed_key_is_refused(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.has(missing)
    with pytest.raises(FileNotFoundError):
        store.get(missing)
    assert not store.has("../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        store.get("../../etc/passwd")


def test_a_deleted_blob_is_gone_and_deleting_again_says_so(store: BlobStore) -> None:
    sha = store.put(b"personal data")
    assert store.delete(sha) is True
    assert not store.has(sha)
    with pytest.raises(FileNotFoundError):
        store.get(sha)
    assert store.delete(sha) is False


def test_the_s3_store_is_chosen_by_the_blob_store_setting_alone(s3_endpoint: str, s3_location: str,
                                                                tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, blob_store=s3_location, s3={"endpoint_url": s3_endpoint})
    store = build_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.get(store.put(b"by settings")) == b"by settings"


def test_an_unreachable_object_store_is_one_sentence_naming_the_bucket() -> None:
    store = S3BlobStore("s3://nowhere/blobs", endpoint_url="http://127.0.0.1:9", access_key_id="x",
                        secret_access_key="y", region="us-east-1")
    with pytest.raises(BlobStoreUnavailable, match="s3://nowhere cannot be reached"):
        store.put(b"lost?")
