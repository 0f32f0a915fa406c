"""Where file bytes live: local disk for the embedded default, or an S3-compatible bucket (media/s3.py)."""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from laoyou.core.settings import Settings


CHUNK_BYTES = 256 * 1024  # what a file is sent in: a 30 MB video never sits whole in the server's memory


@dataclass(frozen=True)
class ByteRange:
    """One range of bytes asked for, before the file's size is known: `first`..`last` (both counted, last None
    for "to the end"), or the final `suffix` bytes (first and last None). As HTTP's Range spells them."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None

    def within(self, size: int) -> range | None:
        """The offsets this asks of a file of `size` bytes, cut to the file; None if it asks for none of them
        (starting at or past its end, or the last 0 bytes)."""
        if self.suffix is not None:
            return range(max(0, size - self.suffix), size) if self.suffix > 0 and size > 0 else None
        assert self.first is not None
        if self.first >= size:
            return None
        return range(self.first, size if self.last is None else min(self.last + 1, size))

    def header(self) -> str:
        """As a Range header's value (what S3's GetObject takes)."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        return f"bytes={self.first}-{'' if self.last is None else self.last}"


class RangeNotSatisfiable(Exception):
    """The range asked for holds none of the file's bytes; the file's size, which the answer names."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(frozen=True)
class StoredFile:
    size: int  # the whole file's, also when only part of it is read
    chunks: AsyncIterator[bytes]  # the part's bytes when a part was asked for, else the whole file's
    part: range | None = None  # the offsets `chunks` holds; None when they are the whole file
    modified: datetime | None = None  # when the file was stored (UTC), where the storage says so cheaply


class Storage(Protocol):
    """Started and closed by whatever opens one: the app at start and stop, a command or a job with `async with`;
    what it holds (a client and its connections) is given back on closing."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Storage: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    def open(self, key: str, wanted: ByteRange | None = None) -> AbstractAsyncContextManager[StoredFile]:
        """The file's size and its bytes in chunks (only the `wanted` part's, when one is given), released on
        leaving; FileNotFoundError if there is none, RangeNotSatisfiable if the part holds none of its bytes."""
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
    async def open(self, key: str, wanted: ByteRange | None = None) -> AsyncIterator[StoredFile]:
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            status = os.fstat(handle.fileno())
            part = None
            if wanted is not None:
                part = wanted.within(status.st_size)
                if part is None:
                    raise RangeNotSatisfiable(status.st_size)
                handle.seek(part.start)  # a seek on an open file: the bytes before are never read
            left = len(part) if part is not None else status.st_size

            async def chunks() -> AsyncIterator[bytes]:
                nonlocal left
                while left > 0 and (chunk := await asyncio.to_thread(handle.read, min(CHUNK_BYTES, left))):
                    left -= len(chunk)
                    yield chunk

            yield StoredFile(
                size=status.st_size,
                chunks=chunks(),
                part=part,
                modified=datetime.fromtimestamp(status.st_mtime, UTC),
            )
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
