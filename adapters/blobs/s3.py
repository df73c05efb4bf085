"""BlobStore on S3-compatible object storage (boto3): `s3://bucket/prefix` -> <prefix>/<sha256[:2]>/<sha256>.

A PUT is atomic on S3 (an object is whole or absent) and content addressing makes it idempotent: the same bytes
always land under the same key, so a retried or concurrent put changes nothing. The endpoint, region and
credentials come from the `s3` settings, or from boto3's own chain (AWS_* variables, profiles, instance roles).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from application.ports import BlobStoreUnavailable

_SHA256 = re.compile(r"[0-9a-f]{64}")
PUT_THREADS = 16  # concurrent PUTs and GETs for put_many and get_many: object stores answer them in parallel
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


class S3BlobStore:
    """Content-addressed objects in one bucket, under one prefix."""

    def __init__(self, location: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 client: Any = None) -> None:
        parts = urlparse(location)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"{location!r} is not an s3://bucket/prefix location")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = client or s3_client(endpoint_url=endpoint_url, region=region, access_key_id=access_key_id,
                                          secret_access_key=secret_access_key)
        self._io: ThreadPoolExecutor | None = None

    def _key(self, sha256: str) -> str:
        if not _SHA256.fullmatch(sha256):
            raise FileNotFoundError(f"not a sha256: {sha256!r}")
        return f"{self.prefix}/{sha256[:2]}/{sha256}" if self.prefix else f"{sha256[:2]}/{sha256}"

    def _call(self, action: str, **arguments: Any) -> Any:
        try:
            return getattr(self.client, action)(Bucket=self.bucket, **arguments)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in NOT_FOUND:
                raise FileNotFoundError(arguments.get("Key", "")) from None
            raise BlobStoreUnavailable(f"the blob store s3://{self.bucket} refused {action}: "
                                       f"{error.response.get('Error', {}).get('Message', error)}") from None
        except BotoCoreError as error:
            raise BlobStoreUnavailable(f"the blob store s3://{self.bucket} cannot be reached: {error}") from None

    def put(self, data: bytes) -> str:
        """One blob; a HEAD first spares sending bytes the store already holds (artifacts, datasets)."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self._put(sha, data)
        return sha

    def _put(self, sha: str, data: bytes) -> str:
        self._call("put_object", Key=self._key(sha), Body=data, ChecksumAlgorithm="SHA256")
        return sha

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        """Several blobs (served images, mostly new), PUT concurrently without a HEAD each: one round trip per blob,
        and a PUT of bytes already there changes nothing. Each is durable in the object store when this returns
        (`sync` changes nothing here: S3 acknowledges a PUT once it is stored)."""
        del sync
        shas = [hashlib.sha256(data).hexdigest() for data in blobs]
        return list(self._pool().map(self._put, shas, blobs))

    def get(self, sha256: str) -> bytes:
        body: bytes = self._call("get_object", Key=self._key(sha256))["Body"].read()
        return body

    def get_many(self, shas: Sequence[str]) -> dict[str, bytes]:
        """GETs in parallel (an object store answers them concurrently): one round trip per blob, none first to
        ask whether it is there."""
        unique = list(dict.fromkeys(shas))
        return {sha: data for sha, data in zip(unique, self._pool().map(self._get_or_none, unique), strict=True)
                if data is not None}

    def _get_or_none(self, sha256: str) -> bytes | None:
        try:
            return self.get(sha256)
        except FileNotFoundError:
            return None

    def fetch_url(self, url: str) -> bytes:
        """Any object this client can read, by its `s3://bucket/key` URL (a team's dataset manifest's paths)."""
        return read_s3_url(self.client, url)

    def has(self, sha256: str) -> bool:
        try:
            self._call("head_object", Key=self._key(sha256))
        except FileNotFoundError:
            return False
        return True

    def missing(self, shas: Sequence[str]) -> set[str]:
        """HEADs in parallel, one round trip per blob."""
        unique = list(dict.fromkeys(shas))
        return {sha for sha, there in zip(unique, self._pool().map(self.has, unique), strict=True) if not there}

    def _pool(self) -> ThreadPoolExecutor:
        if self._io is None:
            self._io = ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="blob-io")
        return self._io

    def delete(self, sha256: str) -> bool:
        if not self.has(sha256):
            return False
        self._call("delete_object", Key=self._key(sha256))
        return True


def read_s3_url(client: Any, url: str) -> bytes:
    """The bytes of `s3://bucket/key`; FileNotFoundError when it does not exist."""
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise FileNotFoundError(url)
    try:
        body: bytes = client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            raise FileNotFoundError(url) from None
        raise BlobStoreUnavailable(f"{url} cannot be read: {error.response.get('Error', {}).get('Message', error)}") \
            from None
    except BotoCoreError as error:
        raise BlobStoreUnavailable(f"{url} cannot be read: {error}") from None
    return body


def s3_client(*, endpoint_url: str | None = None, region: str | None = None, access_key_id: str | None = None,
              secret_access_key: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret_access_key,
                        config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                      max_pool_connections=PUT_THREADS))
