"""Where file bytes live: local disk for the embedded default, or an S3-compatible bucket (media/s3.py)."""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from laoyou.core.settings import Settings


CHUNK_BYTES = 256 * 1024  # what a file is sent in: a 30 MB video never sits whole in the server's memory


@dataclass(frozen=True)
class StoredFile:
    size: int
    chunks: AsyncIterator[bytes]


class Storage(Protocol):
    """Started and closed by whatever opens one: the app at start and stop, a command or a job with `async with`;
    what it holds (a client and its connections) is given back on closing."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Storage: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> AbstractAsyncContextManager[StoredFile]:
        """The file's size and its bytes in chunks, released on leaving; FileNotFoundError if there is none."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored file's size in bytes; None if there is none."""
        ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under <data dir>/media, written to a temporary name and renamed so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def start(self) -> None:
        pass  # nothing to open: each call opens and closes its file

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> LocalStorage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the media folder: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(path.suffix + ".part")
            temporary.write_bytes(data)
            os.replace(temporary, path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    @asynccontextmanager
    async def open(self, key: str) -> AsyncIterator[StoredFile]:
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                    yield chunk

            yield StoredFile(size=os.fstat(handle.fileno()).st_size, chunks=chunks())
        finally:
            handle.close()

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def keys(self) -> list[str]:
        """Every whole file kept here (not one being written), as its storage key, in order."""
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.endswith(".part") and not path.name.startswith(".")
        )


def storage_for(settings: Settings) -> Storage:
    """Where these settings keep files; not opened yet (`async with`)."""
    if settings.media_storage == "s3":
        from laoyou.media.s3 import S3Storage

        return S3Storage(settings)
    return local_storage(settings)


def local_storage(settings: Settings) -> LocalStorage:
    """The data directory's media folder, whichever storage is in use (`laoyou media migrate` reads it)."""
    return LocalStorage(settings.data_dir / "media")


@dataclass
class Copied:
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0


async def copy_missing(
    source: LocalStorage, target: Storage, *, on_file: Callable[[str, bool], None] | None = None
) -> Copied:
    """Copy each file of the local media folder that the target does not hold yet at the same size (so a copy
    that stopped part way goes on where it stopped); on_file(key, copied) after each. The local files stay."""
    done = Copied()
    for key in await asyncio.to_thread(source.keys):
        if await target.size(key) == await source.size(key):
            done.skipped += 1
            copied = False
        else:
            data = await source.get(key)
            content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
            await target.put(key, data, content_type)
            done.copied += 1
            done.bytes_copied += len(data)
            copied = True
        if on_file is not None:
            on_file(key, copied)
    return done
