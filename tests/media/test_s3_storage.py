"""Media in an S3-compatible bucket (LAOYOU_MEDIA_STORAGE=s3), against a real S3 server started here.

The server is moto's (ThreadedMotoServer): S3's HTTP protocol, signatures and errors on a local port, so the app
talks to it exactly as to MinIO or AWS, through its own client and connections.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import select

from laoyou.core.settings import Settings
from laoyou.core.time import utcnow
from laoyou.media.jobs import run_media_jobs
from laoyou.media.models import MediaFile
from laoyou.media.s3 import BucketUnavailable, S3Storage
from laoyou.media.storage import CHUNK_BYTES, ByteRange, LocalStorage, StoredFile, copy_missing
from laoyou.web.media import StoredFileResponse

from ..conftest import (
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    graphql_client,
    login_demo,
    make_database_url,
    make_settings,
    started,
)
from ..test_cli import READY, ROOT, laoyou, only
from .test_uploads import community_of, jpeg_with_gps, upload

_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[Any]:
    """A new empty bucket, and a plain client of the test's own to look into it."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )
    name = f"laoyou-media-{next(_buckets)}"
    client.create_bucket(Bucket=name)
    client.name = name
    yield client
    client.close()


def s3(bucket: Any, **overrides: Any) -> dict[str, Any]:
    """The settings that put media in this bucket."""
    return {
        "media_storage": "s3",
        "s3_endpoint_url": bucket.meta.endpoint_url,
        "s3_bucket": bucket.name,
        "s3_access_key": "test-key",
        "s3_secret_key": "test-secret",
        **overrides,
    }


def migrating_to(bucket: Any) -> dict[str, str]:
    """The environment of `laoyou media migrate` into this bucket, run before switching to it."""
    return {f"LAOYOU_{name.upper()}": value for name, value in s3(bucket).items() if name != "media_storage"}


def objects(bucket: Any) -> dict[str, bytes]:
    listed = bucket.list_objects_v2(Bucket=bucket.name).get("Contents", [])
    return {
        item["Key"]: bucket.get_object(Bucket=bucket.name, Key=item["Key"])["Body"].read() for item in listed
    }


def stored_locally(data_dir: Path) -> list[Path]:
    root = data_dir / "media"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def fetch(http: httpx.AsyncClient, url: str, token: str | None) -> httpx.Response:
    return await http.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


async def test_an_upload_lands_in_the_bucket_and_is_served_to_its_owner_alone(
    backend, tmp_path, request, bucket
):
    settings = make_settings(tmp_path, make_database_url(backend, tmp_path, request), **s3(bucket))
    async with started(settings) as app, graphql_client(app) as gql:
        http = gql.http
        # Given a resident who uploads a phone photo through the app's upload endpoint
        resident = await login_demo(gql, RESIDENT_XIUSHAN)
        response = await upload(http, resident.token, jpeg_with_gps(), await community_of(resident))
        assert response.status_code == 201, response.text
        body = response.json()
        # Then the photo and its thumbnail are in the bucket, and nothing is on the app's disk
        async with app.state.sessionmaker() as session:
            row = await session.get(MediaFile, int(body["id"]))
        in_bucket = objects(bucket)
        assert set(in_bucket) == {row.storage_key, row.thumb_key}
        assert stored_locally(tmp_path) == []
        # And she gets both back through the app, whole, with the app's headers
        full = await fetch(http, body["url"], resident.token)
        assert (full.status_code, full.content) == (200, in_bucket[row.storage_key])
        assert full.headers["content-type"] == "image/jpeg"
        assert full.headers["content-length"] == str(len(full.content))
        assert full.headers["cache-control"] == "private, max-age=86400"
        assert max(Image.open(io.BytesIO(full.content)).size) == 2048
        thumb = await fetch(http, body["thumbUrl"], resident.token)
        assert (thumb.status_code, thumb.content) == (200, in_bucket[row.thumb_key])
        assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
        # But a resident of another community, and anyone without a login, get neither
        stranger = await login_demo(gql, RESIDENT_JINGJU)
        for token in (stranger.token, None):
            for url in (body["url"], body["thumbUrl"]):
                assert (await fetch(http, url, token)).status_code == 404
        # And a file whose object has gone from the bucket is not found, not a server error
        bucket.delete_object(Bucket=bucket.name, Key=row.thumb_key)
        assert (await fetch(http, body["thumbUrl"], resident.token)).status_code == 404


async def test_a_file_attached_to_nothing_is_removed_from_the_bucket_by_the_cleanup_job(
    backend, tmp_path, request, bucket
):
    settings = make_settings(tmp_path, make_database_url(backend, tmp_path, request), **s3(bucket))
    async with started(settings) as app, graphql_client(app) as gql:
        # Given a photo uploaded two days ago and attached to nothing, and one uploaded now
        resident = await login_demo(gql, RESIDENT_XIUSHAN)
        community_id = await community_of(resident)
        stray = (await upload(gql.http, resident.token, jpeg_with_gps(300, 200), community_id)).json()
        fresh = (await upload(gql.http, resident.token, jpeg_with_gps(300, 200), community_id)).json()
        assert len(objects(bucket)) == 4
        async with app.state.sessionmaker() as session:
            await session.exec(
                update(MediaFile)
                .where(MediaFile.id == int(stray["id"]))
                .values(created_at=utcnow() - timedelta(days=2))
            )
            await session.commit()
        # When the cleanup job runs
        async with app.state.sessionmaker() as session:
            assert await run_media_jobs(session, storage=app.state.storage) == 1
            await session.commit()
        # Then the stray photo and its thumbnail are gone from the bucket, and the fresh one stays
        async with app.state.sessionmaker() as session:
            kept = (await session.exec(select(MediaFile))).all()
        assert [str(media.id) for media in kept] == [fresh["id"]]
        assert set(objects(bucket)) == {kept[0].storage_key, kept[0].thumb_key}
        assert (await fetch(gql.http, stray["url"], resident.token)).status_code == 404
        assert (await fetch(gql.http, fresh["url"], resident.token)).status_code == 200


class Interrupted(Exception):
    pass


class Watched:
    """A storage whose opened files are counted while they are held."""

    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.held = 0

    @asynccontextmanager
    async def open(self, key: str, wanted: ByteRange | None = None) -> AsyncIterator[StoredFile]:
        async with self.storage.open(key, wanted) as stored:
            self.held += 1
            try:
                yield stored
            finally:
                self.held -= 1


async def test_a_download_the_client_leaves_part_way_gives_back_its_connection(tmp_path, bucket):
    # Given a video in the bucket, several chunks long
    video = os.urandom(3 * CHUNK_BYTES + 5)
    async with S3Storage(Settings(data_dir=tmp_path, **s3(bucket))) as storage:
        await storage.put("1/2/video.mp4", video, "video/mp4")
        watched = Watched(storage)
        # When more clients than the client's connection pool holds (10) each leave after the first chunk
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)
            if message.get("body"):
                raise Interrupted  # the phone went away

        # (a connection kept would leave the last ones waiting for the pool: the time limit fails them)
        async with asyncio.timeout(30):
            for _ in range(12):
                sent.clear()
                response = StoredFileResponse(watched, "1/2/video.mp4", media_type="video/mp4")
                with pytest.raises(Interrupted):
                    await response({"type": "http", "method": "GET", "headers": []}, None, send)
                assert sent[0]["status"] == 200
                assert (b"content-length", str(len(video)).encode()) in sent[0]["headers"]
                # Then what each held is given back
                assert watched.held == 0
        # And the next one still gets the whole video
        assert await storage.get("1/2/video.mp4") == video


async def test_migrate_copies_local_media_into_the_bucket_and_goes_on_where_it_stopped(tmp_path, bucket):
    # Given a data directory with four media files and one still being written (never copied)
    local = LocalStorage(tmp_path / "media")
    files = {f"1/2/photo-{n}.jpg": os.urandom(1000 + n) for n in range(4)}
    for key, data in files.items():
        await local.put(key, data, "image/jpeg")
    (tmp_path / "media" / "1" / "2" / "photo-9.jpg.part").write_bytes(b"half")
    # And a copy that stopped after two files
    copied: list[str] = []

    def stop_after_two(key: str, was_copied: bool) -> None:
        copied.append(key)
        if len(copied) == 2:
            raise Interrupted

    settings = Settings(data_dir=tmp_path, **s3(bucket))
    with pytest.raises(Interrupted):
        async with S3Storage(settings) as target:
            await copy_missing(local, target, on_file=stop_after_two)
    assert sorted(objects(bucket)) == copied
    # And one object that is not the whole file (a size that differs)
    bucket.put_object(Bucket=bucket.name, Key=copied[1], Body=b"truncated")
    # When `laoyou media migrate --to s3` runs
    env = migrating_to(bucket)
    ran = laoyou("media", "migrate", "--to", "s3", data_dir=tmp_path, **env)
    # Then it copies what was missing or not whole and skips what was there, and says so
    assert ran.returncode == 0, ran.stderr
    assert "copied 3 files (0.0 MB), skipped 1 already in the bucket" in ran.stdout
    assert objects(bucket) == files
    # And run again, it copies nothing; the local files are kept
    again = laoyou("media", "migrate", "--to", "s3", data_dir=tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "copied 0 files (0.0 MB), skipped 4 already in the bucket" in again.stdout
    assert {path.name for path in stored_locally(tmp_path)} == {
        *(key.rsplit("/", 1)[1] for key in files),
        "photo-9.jpg.part",
    }


async def test_media_uploaded_to_the_disk_is_served_from_the_bucket_after_migrate(
    backend, tmp_path, request, bucket
):
    # Given a photo uploaded while media was kept on the disk
    database_url = make_database_url(backend, tmp_path, request)
    async with started(make_settings(tmp_path, database_url)) as app, graphql_client(app) as gql:
        resident = await login_demo(gql, RESIDENT_XIUSHAN)
        body = (
            await upload(gql.http, resident.token, jpeg_with_gps(300, 200), await community_of(resident))
        ).json()
        before = (await fetch(gql.http, body["url"], resident.token)).content
    # When the media is migrated and the app restarted with LAOYOU_MEDIA_STORAGE=s3, the disk's copies removed
    env = migrating_to(bucket)
    ran = laoyou("media", "migrate", "--to", "s3", data_dir=tmp_path, **env)
    assert ran.returncode == 0, ran.stderr
    assert "copied 2 files" in ran.stdout
    for path in stored_locally(tmp_path):
        path.unlink()
    async with (
        started(make_settings(tmp_path, database_url, **s3(bucket))) as app,
        graphql_client(app) as gql,
    ):
        resident = await login_demo(gql, RESIDENT_XIUSHAN)
        # Then she still gets her photo and its thumbnail
        assert (await fetch(gql.http, body["url"], resident.token)).content == before
        assert (await fetch(gql.http, body["thumbUrl"], resident.token)).status_code == 200


def test_s3_needs_its_bucket_and_in_production_its_keys(tmp_path):
    production = {
        "mode": "production",
        "voice_backend": "none",
        "secret_key": "x" * 40,
        "sms_backend": "http",
        "sms_gateway_url": "http://127.0.0.1:9/sms",
        "media_storage": "s3",
    }
    with pytest.raises(ValidationError) as refused:
        Settings(**production, s3_access_key="key")
    assert "LAOYOU_MEDIA_STORAGE=s3 needs LAOYOU_S3_BUCKET, LAOYOU_S3_SECRET_KEY" in str(refused.value)
    Settings(**production, s3_bucket="media", s3_access_key="key", s3_secret_key="secret")
    with pytest.raises(ValidationError, match="LAOYOU_MEDIA_STORAGE=s3 needs LAOYOU_S3_BUCKET"):
        Settings(media_storage="s3")
    Settings(media_storage="s3", s3_bucket="media")  # keys from botocore's own environment outside production
    with pytest.raises(ValidationError):
        Settings(media_storage="ftp")
    # And `laoyou check-config` names the keys production lacks
    checked = subprocess.run(
        [sys.executable, "-m", "laoyou.cli", "check-config"],
        capture_output=True,
        text=True,
        env={**only(READY, tmp_path), "LAOYOU_MEDIA_STORAGE": "s3", "LAOYOU_S3_BUCKET": "media"},
        timeout=120,
        cwd=ROOT,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert re.search(r"^media +s3: bucket media at AWS S3$", checked.stdout, flags=re.M), checked.stdout
    assert (
        "MISSING: LAOYOU_MEDIA_STORAGE=s3 needs LAOYOU_S3_ACCESS_KEY, LAOYOU_S3_SECRET_KEY" in checked.stdout
    )


async def test_a_bucket_that_cannot_be_used_stops_the_app_and_the_migration_with_the_reason(
    backend, tmp_path, request, bucket
):
    # A bucket that does not exist: the app does not start, and says why
    settings = make_settings(
        tmp_path, make_database_url(backend, tmp_path, request), **s3(bucket, s3_bucket="no-such-bucket")
    )
    with pytest.raises(BucketUnavailable, match="'no-such-bucket'"):
        async with started(settings, load_demo=False):
            pass
    # Nor does the migration, for a bucket not named or a service not reachable
    env = migrating_to(bucket)
    missing = laoyou("media", "migrate", "--to", "s3", data_dir=tmp_path, **{**env, "LAOYOU_S3_BUCKET": ""})
    assert missing.returncode == 2
    assert "Set LAOYOU_S3_BUCKET" in missing.stderr
    unreachable = laoyou(
        "media",
        "migrate",
        "--to",
        "s3",
        data_dir=tmp_path,
        **{**env, "LAOYOU_S3_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert unreachable.returncode == 1
    assert "Cannot use the bucket" in unreachable.stderr
