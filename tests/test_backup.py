"""`laoyou backup` of a busy demo and `laoyou restore` into an empty place: every row and media file intact;
with media in a bucket (against moto's S3 server, as tests/media/test_s3_storage.py), every object too."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from laoyou.accounts.models import AuditEvent
from laoyou.core.backup import BackupError, backup
from laoyou.media.s3 import S3Storage

from .conftest import STEWARD_XIUSHAN, graphql_client, login_demo, make_database_url, make_settings, started
from .media.test_s3_storage import bucket, objects, s3, s3_endpoint  # noqa: F401 (the bucket's fixtures)
from .tickets.helpers import jpeg, upload_photo

ROOT = Path(__file__).resolve().parents[1]
_restored_buckets = itertools.count(1)


async def laoyou(*args: str, data_dir: Path, database_url: str, **env: str) -> tuple[int, str]:
    environment = {**os.environ, "LAOYOU_DATA_DIR": str(data_dir), "LAOYOU_DATABASE_URL": database_url}
    # Wide enough that the summary line is not wrapped.
    environment.update({"COLUMNS": "400", **env})
    environment["PYTHONPATH"] = str(ROOT / "backend")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "laoyou.cli",
        *args,
        env=environment,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode, output.decode()


async def every_row(database_url: str) -> dict[str, set[str]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            return {
                name: {repr(tuple(row)) for row in await connection.execute(select(table))}
                for name, table in metadata.tables.items()
            }
    finally:
        await engine.dispose()


async def busy_writes(database_url: str) -> list[int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                select(AuditEvent.detail).where(AuditEvent.action == "test.busy")
            )
            return sorted(int(detail) for (detail,) in found)
    finally:
        await engine.dispose()


def media_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


async def test_a_busy_demo_is_backed_up_and_restored_whole(
    tmp_path,
    backend,
    request,
    bucket,  # noqa: F811
) -> None:
    source_dir, target_dir = tmp_path / "a", tmp_path / "b"
    source_url = make_database_url(backend, tmp_path, request)
    async with started(make_settings(source_dir, source_url)) as app:
        # Given the demo with photos uploaded by a steward
        async with graphql_client(app) as gql:
            steward = await login_demo(gql, STEWARD_XIUSHAN)
            communities = (await steward("{ viewer { staffCommunities { id } } }"))["data"]["viewer"]
            community_id = communities["staffCommunities"][0]["id"]
            transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                for shade in range(3):
                    uploaded = await upload_photo(
                        http, steward.token, community_id, jpeg(400 + shade * 10, 300)
                    )
                    assert uploaded.status_code == 201, uploaded.text
        before = await every_row(source_url)
        files_before = media_files(source_dir / "media")
        vapid_before = media_files(source_dir / "vapid")
        assert len(files_before) >= 3 and sum(len(rows) for rows in before.values()) > 100

        # When it is backed up while the app goes on writing
        stop = asyncio.Event()

        async def keep_writing() -> int:
            written = 0
            while not stop.is_set():
                async with app.state.sessionmaker() as session:
                    session.add(AuditEvent(action="test.busy", detail=str(written)))
                    await session.commit()
                written += 1
                await asyncio.sleep(0.005)
            return written

        writer = asyncio.create_task(keep_writing())
        archive = tmp_path / "laoyou-backup.tar.gz"
        code, said = await laoyou(
            "backup", "--output", str(archive), data_dir=source_dir, database_url=source_url
        )
        stop.set()
        assert await writer > 0
        assert code == 0, said
        assert (
            "Wrote" in said and archive.exists() and not archive.with_name(archive.name + ".partial").exists()
        )

    # Then it restores into an empty data directory and database
    target_url = make_database_url(backend, tmp_path, request)
    code, said = await laoyou("restore", str(archive), data_dir=target_dir, database_url=target_url)
    assert code == 0, said
    after = await every_row(target_url)
    # with every row that was there before the backup (and the writes it caught, whole)
    for table, rows in before.items():
        assert rows <= after[table], table
    busy = await busy_writes(target_url)
    assert busy == list(range(len(busy)))  # a prefix of what was written: a consistent snapshot
    # and every media file, byte for byte
    assert media_files(target_dir / "media") == files_before
    # and the VAPID key the devices' push subscriptions are bound to
    assert media_files(target_dir / "vapid") == vapid_before != {}
    # And the restored Laoyou starts and serves
    async with started(make_settings(target_dir, target_url), load_demo=False) as restored:
        transport = httpx.ASGITransport(app=restored, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/readyz")).status_code == 200
        async with graphql_client(restored) as gql:
            await login_demo(gql, STEWARD_XIUSHAN)

    # And it restores into an installation whose media are in a bucket: the files become its objects
    code, said = await laoyou(
        "restore",
        str(archive),
        data_dir=tmp_path / "into-bucket",
        database_url=make_database_url(backend, tmp_path, request),
        **bucket_env(bucket),
    )
    assert code == 0, said
    assert objects(bucket) == files_before

    # And restoring again over it is refused, changing nothing
    served = await every_row(target_url)
    code, said = await laoyou("restore", str(archive), data_dir=target_dir, database_url=target_url)
    assert code == 1 and "Restore refused" in said
    assert await every_row(target_url) == served


async def test_restore_refuses_what_is_not_a_backup_and_backup_never_overwrites(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x' / 'laoyou.sqlite3'}"
    stray = tmp_path / "stray.tar.gz"
    stray.write_bytes(b"not an archive at all")
    code, said = await laoyou("restore", str(stray), data_dir=tmp_path / "x", database_url=url)
    assert code == 1 and "Restore refused" in said
    assert not (tmp_path / "x" / "laoyou.sqlite3").exists()
    code, said = await laoyou("backup", "--output", str(stray), data_dir=tmp_path / "x", database_url=url)
    assert code == 1 and "already exists" in said
    assert stray.read_bytes() == b"not an archive at all"


@pytest.fixture
def new_bucket(s3_endpoint: str) -> Iterator[Callable[[], Any]]:  # noqa: F811 (the imported fixture)
    """More empty buckets on the same server, each with a client of its own to look into it."""
    made: list[Any] = []

    def make() -> Any:
        client = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
            region_name="us-east-1",
        )
        client.name = f"laoyou-restored-{next(_restored_buckets)}"
        client.create_bucket(Bucket=client.name)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def bucket_env(bucket: Any) -> dict[str, str]:  # noqa: F811
    """The environment of a Laoyou whose media are in this bucket."""
    return {f"LAOYOU_{name.upper()}": value for name, value in s3(bucket).items()}


async def test_media_in_a_bucket_are_backed_up_and_restored_into_a_bucket_or_the_media_folder(
    tmp_path,
    backend,
    request,
    bucket,  # noqa: F811
    new_bucket,
) -> None:
    source_dir = tmp_path / "a"
    source_url = make_database_url(backend, tmp_path, request)
    async with started(make_settings(source_dir, source_url, **s3(bucket))) as app:
        # Given an installation whose photos a steward uploaded into the bucket
        async with graphql_client(app) as gql:
            steward = await login_demo(gql, STEWARD_XIUSHAN)
            communities = (await steward("{ viewer { staffCommunities { id } } }"))["data"]["viewer"]
            community_id = communities["staffCommunities"][0]["id"]
            for shade in range(2):
                uploaded = await upload_photo(
                    gql.http, steward.token, community_id, jpeg(400 + shade * 10, 300)
                )
                assert uploaded.status_code == 201, uploaded.text
    # and a video of several chunks' size
    video = os.urandom(3 * 1024 * 1024 + 17)
    bucket.put_object(Bucket=bucket.name, Key="1/1/0123456789abcdef0123456789abcdef.mp4", Body=video)
    # and, in the media folder, a file left from before the move to the bucket (not the installation's media)
    (source_dir / "media").mkdir(parents=True, exist_ok=True)
    (source_dir / "media" / "left-behind.jpg").write_bytes(b"old")
    in_bucket = objects(bucket)
    assert len(in_bucket) == 5
    rows = await every_row(source_url)
    vapid = media_files(source_dir / "vapid")

    # When it is backed up
    archive = tmp_path / "laoyou-backup.tar.gz"
    code, said = await laoyou(
        "backup",
        "--output",
        str(archive),
        data_dir=source_dir,
        database_url=source_url,
        **bucket_env(bucket),
    )
    # Then the summary counts the bucket's objects
    assert code == 0, said
    assert f"files: 5 in media (bucket {bucket.name}), {len(vapid)} in vapid" in said, said

    # And it restores into a fresh bucket: every object byte for byte, nothing in the media folder
    fresh = new_bucket()
    target_dir, target_url = tmp_path / "b", make_database_url(backend, tmp_path, request)
    code, said = await laoyou(
        "restore", str(archive), data_dir=target_dir, database_url=target_url, **bucket_env(fresh)
    )
    assert code == 0, said
    assert f"media into bucket {fresh.name}" in said, said
    assert objects(fresh) == in_bucket
    assert media_files(target_dir / "media") == {}
    assert await every_row(target_url) == rows
    assert media_files(target_dir / "vapid") == vapid != {}

    # And into an installation with local storage: the same files in its media folder
    local_dir, local_url = tmp_path / "c", make_database_url(backend, tmp_path, request)
    code, said = await laoyou("restore", str(archive), data_dir=local_dir, database_url=local_url)
    assert code == 0, said
    assert media_files(local_dir / "media") == in_bucket
    assert await every_row(local_url) == rows

    # But a bucket that already holds objects is refused, and nothing is uploaded or restored
    taken = new_bucket()
    taken.put_object(Bucket=taken.name, Key="someone-else.txt", Body=b"theirs")
    refused_dir, refused_url = tmp_path / "d", make_database_url(backend, tmp_path, request)
    code, said = await laoyou(
        "restore", str(archive), data_dir=refused_dir, database_url=refused_url, **bucket_env(taken)
    )
    assert code == 1 and "Restore refused" in said and "already holds objects" in said, said
    assert objects(taken) == {"someone-else.txt": b"theirs"}
    assert await every_row(refused_url) == {}
    assert not refused_dir.exists()


async def test_a_bucket_that_cannot_be_read_fails_the_backup_and_leaves_no_archive(
    tmp_path,
    bucket,  # noqa: F811
) -> None:
    database = tmp_path / "laoyou.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE kept (id INTEGER)")
    url = f"sqlite+aiosqlite:///{database}"
    archive = tmp_path / "laoyou-backup.tar.gz"
    # A bucket that is not there: the service's answer, named, and no archive
    code, said = await laoyou(
        "backup",
        "--output",
        str(archive),
        data_dir=tmp_path,
        database_url=url,
        **{**bucket_env(bucket), "LAOYOU_S3_BUCKET": "no-such-bucket"},
    )
    assert code == 1 and "Backup failed" in said and "no-such-bucket" in said, said
    assert list(tmp_path.glob("laoyou-backup*")) == []


def test_a_bucket_that_refuses_part_way_leaves_no_archive(tmp_path, bucket, monkeypatch) -> None:  # noqa: F811
    database = tmp_path / "laoyou.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE kept (id INTEGER)")
    for number in range(3):
        bucket.put_object(Bucket=bucket.name, Key=f"1/1/{number}.jpg", Body=os.urandom(1000))
    archive = tmp_path / "laoyou-backup.tar.gz"
    real_open, opened = S3Storage.open, []

    def refusing_open(self: S3Storage, key: str, wanted: Any = None) -> Any:
        # The second object is refused (a key whose rights were taken away meanwhile), once the archive is
        # being written.
        opened.append(key)
        if len(opened) == 2:
            assert archive.with_name(archive.name + ".partial").exists()
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return real_open(self, key, wanted)

    monkeypatch.setattr(S3Storage, "open", refusing_open)
    storage = S3Storage(make_settings(tmp_path, f"sqlite+aiosqlite:///{database}", **s3(bucket)))
    with pytest.raises(BackupError, match=f"bucket '{bucket.name}': AccessDenied Access Denied"):
        backup(f"sqlite+aiosqlite:///{database}", tmp_path, archive, storage)
    assert len(opened) == 2
    assert list(tmp_path.glob("laoyou-backup*")) == []
