"""`laoyou backup` and `laoyou restore`: the database and the data directory's folders (the media files, the
VAPID key web push subscriptions are bound to) in one archive.

The database is copied first and consistently while the app keeps serving (SQLite's online backup API;
PostgreSQL's `pg_dump`, which reads one snapshot), then the folders. Files are only ever added or removed
whole, never changed, so every file a backed-up row names was already there when the copy of the files began.
A restore goes only into an empty database and an empty media folder: it never mixes with what is there.

With media in a bucket (LAOYOU_MEDIA_STORAGE=s3) the bucket's objects take the media folder's place: listed
after the database is copied, streamed into the archive one at a time as `media/<key>` (the folder's layout,
since a key is the file's path under the folder), and on restore uploaded into an empty bucket. So an archive
restores into either storage, whichever made it.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, aclosing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from laoyou.core.time import utcnow

FORMAT = "laoyou-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"
# The data directory's folders worth keeping: photos, voice notes and videos; and the VAPID key (a new one
# would orphan every device's push subscription).
FOLDERS = ("media", "vapid")


class BackupError(Exception):
    """What stops a backup or a restore, in words for the operator."""


@dataclass(frozen=True)
class Summary:
    database: str
    tables: dict[str, int]  # rows per table (SQLite; a pg_dump's are not counted)
    files: dict[str, int]  # files per folder
    bucket: str | None = None  # where the media files came from or went to, when not the media folder


def _backend(database_url: str) -> str:
    name = make_url(database_url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up a {name} database")
    return name


def _sqlite_path(database_url: str) -> Path:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(path)


def _libpq_url(database_url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603  (fixed programs)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")


def _count_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608  (catalog names)
            for name in sorted(names)
        }


def _files(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    # A name starting with a dot or ending in .part is a file being written (renamed when whole).
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".part")
    )


class Bucket(Protocol):
    """The media bucket as the backup uses it (media.s3.S3Storage; core knows no domain)."""

    bucket: str

    async def __aenter__(self) -> Any: ...  # opens the client and checks the bucket
    async def __aexit__(self, *exc: object) -> Any: ...
    def keys(self) -> AsyncIterator[str]: ...
    def open(self, key: str) -> AbstractAsyncContextManager[Any]: ...
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def unavailable(self, error: BaseException) -> str | None: ...


@contextmanager
def _bucket_errors(bucket: Bucket) -> Iterator[None]:
    """The service's refusal (no such bucket, access denied) or its silence, as a BackupError naming the bucket."""
    try:
        yield
    except Exception as exc:
        explained = bucket.unavailable(exc)
        if explained is None:
            raise
        raise BackupError(explained) from None


def _add_files(archive: tarfile.TarFile, folder: str, root: Path, found: list[Path]) -> int:
    added = 0
    for path in found:
        try:
            archive.add(path, f"{folder}/{path.relative_to(root).as_posix()}")
        except FileNotFoundError:
            continue  # removed since the listing: the cleanup job removes only files nothing refers to
        added += 1
    return added


async def _add_objects(archive: tarfile.TarFile, bucket: Bucket, keys: list[str], work: Path) -> int:
    """Each object through a file in the scratch folder, written in chunks: a video is never whole in memory,
    and the archive takes each object's size from the file before its bytes."""
    spool, added = work / "object", 0
    try:
        for key in keys:
            try:
                async with bucket.open(key) as stored:
                    with spool.open("wb") as out:
                        async for chunk in stored.chunks:
                            out.write(chunk)
                    modified = stored.modified
            except FileNotFoundError:
                continue  # removed since the listing, as on disk
            info = archive.gettarinfo(spool, f"media/{key}")
            if modified is not None:
                info.mtime = int(modified.timestamp())
            with spool.open("rb") as data:
                archive.addfile(info, data)
            added += 1
    finally:
        spool.unlink(missing_ok=True)
    return added


def backup(database_url: str, data_dir: Path, output: Path, bucket: Bucket | None = None) -> Summary:
    """Write the archive (a .tar.gz) to output; written under a temporary name, so a failed backup leaves no
    file that looks whole. With a bucket, the media files are its objects rather than the media folder's."""
    backend = _backend(database_url)
    if output.exists():
        raise BackupError(f"{output} already exists; choose a new file")
    return asyncio.run(_backup(backend, database_url, data_dir, output, bucket))


async def _backup(
    backend: str, database_url: str, data_dir: Path, output: Path, bucket: Bucket | None
) -> Summary:
    # Blocking calls (the database copy, the archive's writes) run on this loop directly: a command, nothing
    # else waits on it.
    async with AsyncExitStack() as held:
        if bucket is not None:
            held.enter_context(_bucket_errors(bucket))
            # Opened (and the bucket checked) before the database is copied: a wrong bucket stops at once.
            await held.enter_async_context(bucket)
        with tempfile.TemporaryDirectory(prefix="laoyou-backup-") as scratch:
            work = Path(scratch)
            if backend == "sqlite":
                source_path = _sqlite_path(database_url)
                if not source_path.exists():
                    raise BackupError(f"no database at {source_path}")
                copy = work / SQLITE_NAME
                # The online backup API: a consistent copy while the app goes on writing (WAL included).
                with sqlite3.connect(source_path) as source, sqlite3.connect(copy) as target:
                    source.backup(target)
                tables, database_name = _count_rows(copy), SQLITE_NAME
            else:
                copy = work / PG_NAME
                _run(
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={copy}",
                    _libpq_url(database_url),
                )
                tables, database_name = {}, PG_NAME
            # Then the files (after the database, so every file a copied row names is among them).
            files = {
                folder: _files(data_dir / folder) for folder in FOLDERS if folder != "media" or bucket is None
            }
            if bucket is not None:
                async with aclosing(bucket.keys()) as listed:
                    # A key ending in / is a folder marker some tools make: no file.
                    keys = [key async for key in listed if not key.endswith("/")]
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": utcnow().isoformat(),
                "database": backend,
                "tables": tables,
                # As listed when the copy of the files began.
                "files": {
                    folder: len(keys) if folder not in files else len(files[folder]) for folder in FOLDERS
                },
                "media_storage": "local" if bucket is None else "s3",
            }
            partial = output.with_name(output.name + ".partial")
            try:
                with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
                    manifest_path = work / MANIFEST
                    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
                    archive.add(manifest_path, MANIFEST)
                    archive.add(copy, database_name)
                    counts = {}
                    for folder in FOLDERS:
                        if folder in files:
                            counts[folder] = _add_files(archive, folder, data_dir / folder, files[folder])
                        else:
                            counts[folder] = await _add_objects(archive, bucket, keys, work)
                partial.replace(output)
            finally:
                partial.unlink(missing_ok=True)
    return Summary(backend, tables, counts, bucket.bucket if bucket is not None else None)


def _read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        member = archive.extractfile(MANIFEST)
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError, tarfile.TarError, OSError, EOFError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this file is not a Laoyou backup")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"this backup is of format version {manifest.get('version')}; this Laoyou reads {VERSION}"
        )
    return manifest


async def _pg_is_empty(database_url: str) -> bool:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def tables() -> int:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                found = await connection.execute(
                    text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
                )
                return found.scalar_one()
        finally:
            await engine.dispose()

    return await tables() == 0


def restore(archive_path: Path, database_url: str, data_dir: Path, bucket: Bucket | None = None) -> Summary:
    """Put a backup into an empty database and a data directory without those folders (refused otherwise:
    nothing is mixed with what is there, and nothing is overwritten). With a bucket, the media files go into it
    instead of the media folder, and it must hold no object."""
    backend = _backend(database_url)
    if not archive_path.is_file():
        raise BackupError(f"no file at {archive_path}")
    return asyncio.run(_restore(archive_path, backend, database_url, data_dir, bucket))


async def _restore(
    archive_path: Path, backend: str, database_url: str, data_dir: Path, bucket: Bucket | None
) -> Summary:
    local = [folder for folder in FOLDERS if folder != "media" or bucket is None]
    for folder in local:
        if (data_dir / folder).exists() and any((data_dir / folder).iterdir()):
            raise BackupError(f"{data_dir / folder} is not empty; restore into an empty data directory")
    async with AsyncExitStack() as held:
        if bucket is not None:
            held.enter_context(_bucket_errors(bucket))
            await held.enter_async_context(bucket)
            async with aclosing(bucket.keys()) as listed:
                async for _ in listed:
                    raise BackupError(
                        f"the bucket {bucket.bucket!r} already holds objects; restore into an empty bucket"
                    )
        try:
            archive = tarfile.open(archive_path, "r:gz")  # noqa: SIM115  (closed below, on every path)
        except (tarfile.TarError, OSError, EOFError):
            raise BackupError("this file is not a Laoyou backup") from None
        with archive:
            manifest = _read_manifest(archive)
            if manifest["database"] != backend:
                raise BackupError(
                    f"this backup is of a {manifest['database']} database; restore it into a {manifest['database']} database"
                )
            if backend == "sqlite":
                target = _sqlite_path(database_url)
                if target.exists():
                    raise BackupError(
                        f"a database is already at {target}; restore into an empty data directory"
                    )
            elif not await _pg_is_empty(database_url):
                raise BackupError("the database is not empty; restore into a new, empty database")
            with tempfile.TemporaryDirectory(prefix="laoyou-restore-") as scratch:
                work = Path(scratch)
                # The data filter refuses absolute paths, links out of the folder and device files.
                archive.extractall(work, filter="data")
                if backend == "sqlite":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_name(target.name + ".partial")
                    shutil.copyfile(work / SQLITE_NAME, partial)
                    partial.replace(target)
                else:
                    _run(
                        "pg_restore",
                        "--no-owner",
                        "--no-privileges",
                        "--exit-on-error",
                        "--single-transaction",
                        f"--dbname={_libpq_url(database_url)}",
                        str(work / PG_NAME),
                    )
                counts = {}
                for folder in FOLDERS:
                    found = _files(work / folder)
                    for path in found:
                        key = path.relative_to(work / folder).as_posix()
                        if folder not in local:
                            # One object at a time in memory (a video: 30 MB at most).
                            content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
                            await bucket.put(key, path.read_bytes(), content_type)
                            continue
                        destination = data_dir / folder / key
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, destination)
                    counts[folder] = len(found)
    return Summary(
        backend, dict(manifest.get("tables") or {}), counts, bucket.bucket if bucket is not None else None
    )
