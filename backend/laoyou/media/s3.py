"""Media in an S3-compatible bucket (MinIO, AWS S3, Aliyun OSS, Tencent COS), through aiobotocore.

One client per process: opened when the app starts (which also checks the bucket, so a wrong name or key stops
the start with the service's own answer rather than failing the first upload) and closed when it stops. A
command or a job that uses the bucket outside the app opens and closes its own (`async with storage`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from laoyou.media.storage import CHUNK_BYTES, ByteRange, RangeNotSatisfiable, StoredFile

if TYPE_CHECKING:
    from laoyou.core.settings import Settings

NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# What GetObject answers with its Content-Range when it sends part of an object: first, last, whole size.
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class BucketUnavailable(RuntimeError):
    """The bucket cannot be reached or used with these settings."""


class S3Storage:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self._options: dict[str, Any] = {
            "endpoint_url": settings.s3_endpoint_url or None,
            "region_name": settings.s3_region,
            "aws_access_key_id": settings.s3_access_key or None,
            "aws_secret_access_key": settings.s3_secret_key or None,
            # Path-style addressing: MinIO and other self-hosted services have no per-bucket host names.
            "config": Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}
            ),
        }
        self._exits: AsyncExitStack | None = None
        self._client: Any = None
        self._opening = asyncio.Lock()

    async def start(self) -> None:
        """Open the client and check the bucket; BucketUnavailable (and nothing left open) if it cannot."""
        async with self._opening:
            if self._client is not None:
                return
            exits = AsyncExitStack()
            try:
                client = await exits.enter_async_context(get_session().create_client("s3", **self._options))
                await client.head_bucket(Bucket=self.bucket)
            except (ClientError, BotoCoreError) as exc:  # refused, unreachable, no credentials, …
                await exits.aclose()
                raise BucketUnavailable(self.unavailable(exc)) from None
            except BaseException:
                await exits.aclose()
                raise
            self._exits, self._client = exits, client

    def unavailable(self, error: BaseException) -> str | None:
        """What a failure says of the bucket, in words for the operator; None for one that is not the bucket's.
        For callers below media (the backup) that must tell the service's refusals from their own errors."""
        if isinstance(error, BucketUnavailable):
            return str(error)
        if isinstance(error, ClientError):
            said = error.response.get("Error", {})
            return f"bucket {self.bucket!r}: {said.get('Code')} {said.get('Message') or ''}".rstrip()
        if isinstance(error, BotoCoreError):  # unreachable, no credentials, a connection dropped part way
            return f"bucket {self.bucket!r}: {error}"
        return None

    async def close(self) -> None:
        async with self._opening:
            exits, self._exits, self._client = self._exits, None, None
            if exits is not None:
                await exits.aclose()

    async def __aenter__(self) -> S3Storage:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _opened(self) -> Any:
        if self._client is None:
            await self.start()
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        client = await self._opened()
        await client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        async with self.open(key) as stored:
            return b"".join([chunk async for chunk in stored.chunks])

    @asynccontextmanager
    async def open(self, key: str, wanted: ByteRange | None = None) -> AsyncIterator[StoredFile]:
        client = await self._opened()
        if wanted is not None and wanted.suffix == 0:
            # The last 0 bytes: none of any file's, refused here as on disk rather than left to each service.
            raise RangeNotSatisfiable(await self._size_or_missing(key))
        asked = {"Range": wanted.header()} if wanted is not None else {}
        try:
            # The bucket sends only the part asked for: seeking in a video costs its seconds, not its size.
            answer = await client.get_object(Bucket=self.bucket, Key=key, **asked)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in NOT_FOUND:
                raise FileNotFoundError(key) from None
            if error.get("Code") == "InvalidRange":
                # AWS names the object's size in its refusal; a service that does not is asked for it.
                actual = str(error.get("ActualObjectSize"))
                raise RangeNotSatisfiable(
                    int(actual) if actual.isdigit() else await self._size_or_missing(key)
                ) from None
            raise
        # The body holds a pooled connection until it is read to the end or closed: closed here on every path.
        async with answer["Body"] as body:
            sent = CONTENT_RANGE.fullmatch(answer.get("ContentRange") or "")
            if sent is None:  # the whole object (no part asked for, or a service that ignored the Range)
                size, part = answer["ContentLength"], None
            else:
                size, part = int(sent[3]), range(int(sent[1]), int(sent[2]) + 1)
            yield StoredFile(
                size=size,
                chunks=body.iter_chunks(CHUNK_BYTES),
                part=part,
                modified=answer.get("LastModified"),
            )

    async def _size_or_missing(self, key: str) -> int:
        size = await self.size(key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def size(self, key: str) -> int | None:
        client = await self._opened()
        try:
            answer = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                return None
            raise
        return answer["ContentLength"]

    async def delete(self, key: str) -> None:
        client = await self._opened()
        await client.delete_object(Bucket=self.bucket, Key=key)  # a key already gone is not an error

    async def keys(self) -> AsyncIterator[str]:
        """Every object's key, in the bucket's order (by key), a page of up to 1000 at a time: Laoyou's keys
        (`<district>/<community>/<name>`) sit at the bucket's root, so the whole bucket is Laoyou's."""
        client = await self._opened()
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                yield item["Key"]
