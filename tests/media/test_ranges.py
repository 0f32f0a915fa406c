"""Range requests on stored files: one part of a file answered alone (206), on disk and in a bucket alike.

Safari and iOS play a <video> only from a server that answers `Range: bytes=0-1` with that part, and a phone
seeking in a video asks for the bytes from there on. The access checks are those of a whole file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from laoyou.core.settings import Settings
from laoyou.media.s3 import S3Storage
from laoyou.media.storage import CHUNK_BYTES, ByteRange, LocalStorage, StoredFile
from laoyou.web.media import StoredFileResponse, parse_range

from ..conftest import (
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    graphql_client,
    login_demo,
    make_database_url,
    make_settings,
    started,
)
from .test_s3_storage import bucket, s3, s3_endpoint  # noqa: F401 (the bucket's fixtures)
from .test_uploads import community_of, jpeg_with_gps, upload

KEY = "3/7/0123456789abcdef.mp4"


def mp4(size: int) -> bytes:
    """Bytes that the upload check takes for an MP4 video (it reads the signature), random after it."""
    return b"\x00\x00\x00\x18ftypisom" + os.urandom(size - 12)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1", ByteRange(first=0, last=1)),
        ("bytes=500-", ByteRange(first=500)),
        ("bytes=999999999999999999-", ByteRange(first=999999999999999999)),
        ("bytes=-300", ByteRange(suffix=300)),
        ("bytes=-0", ByteRange(suffix=0)),
        ("Bytes = 7-7 ", ByteRange(first=7, last=7)),
        ("bytes=0-1,", ByteRange(first=0, last=1)),  # an empty list element is no range
        (None, None),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("bytes=5-1", None),  # the last byte before the first
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=1-2-3", None),
        ("bytes=+1-2", None),
        ("bytes=" + "9" * 5000 + "-", None),  # an offset past any file that int() would refuse to read
        ("bytes 0-1", None),
        ("items=0-1", None),
        ("bytes=", None),
        ("", None),
    ],
)
def test_a_range_header_is_one_range_or_none(header, expected):
    assert parse_range(header) == expected


@pytest.mark.parametrize(
    ("wanted", "offsets"),
    [
        (ByteRange(first=0, last=1), range(0, 2)),
        (ByteRange(first=3, last=100), range(3, 10)),
        (ByteRange(first=9), range(9, 10)),
        (ByteRange(first=10), None),
        (ByteRange(suffix=4), range(6, 10)),
        (ByteRange(suffix=40), range(0, 10)),
        (ByteRange(suffix=0), None),
    ],
)
def test_a_range_is_cut_to_the_file(wanted, offsets):
    assert wanted.within(10) == offsets


class Held:
    """A storage whose opened files are counted while they are held."""

    def __init__(self, storage: Any, video: bytes = b"") -> None:
        self.storage = storage
        self.video = video  # what is stored under KEY
        self.held = 0

    @asynccontextmanager
    async def open(self, key: str, wanted: ByteRange | None = None) -> AsyncIterator[StoredFile]:
        async with self.storage.open(key, wanted) as stored:
            self.held += 1
            try:
                yield stored
            finally:
                self.held -= 1


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Held]:
    """A video stored on disk or in a bucket, several chunks long, behind a count of what is held."""
    if request.param == "local":
        opened: Any = LocalStorage(tmp_path / "media")
    else:
        opened = S3Storage(Settings(data_dir=tmp_path, **s3(request.getfixturevalue("bucket"))))
    async with opened:
        held = Held(opened, mp4(3 * CHUNK_BYTES + 5))
        await opened.put(KEY, held.video, "video/mp4")
        yield held
        assert held.held == 0, "a stored file is still held"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def answer(storage: Any, *, method: str = "GET", key: str = KEY, **asked: str) -> Answer:
    """What the response sends for these request headers (range=..., if_range=...)."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(name.replace("_", "-").encode(), value.encode()) for name, value in asked.items()]
    scope = {"type": "http", "method": method, "headers": headers}
    await StoredFileResponse(storage, key, media_type="video/mp4")(scope, None, send)
    start = sent[0]
    assert start["type"] == "http.response.start" and not sent[-1].get("more_body")
    return Answer(
        status=start["status"],
        headers={name.decode(): value.decode() for name, value in start["headers"]},
        body=b"".join(message.get("body", b"") for message in sent[1:]),
    )


async def test_one_range_in_each_form_is_answered_with_those_bytes_alone(storage):
    video, size = storage.video, len(storage.video)
    whole = await answer(storage)
    assert (whole.status, whole.body) == (200, video)
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(size)
    assert "content-range" not in whole.headers
    etag = whole.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and KEY not in etag  # strong, and names no community
    assert parsedate_to_datetime(whole.headers["last-modified"]).tzinfo is not None
    # On S3 nothing slices what the bucket sends: these parts are what GetObject was asked for and sent.
    for header, offsets in {
        "bytes=0-1": range(0, 2),  # what Safari asks first
        f"bytes={CHUNK_BYTES - 3}-{2 * CHUNK_BYTES + 3}": range(CHUNK_BYTES - 3, 2 * CHUNK_BYTES + 4),
        f"bytes={size - 10}-{size + 500}": range(size - 10, size),  # cut to the file
        f"bytes={2 * CHUNK_BYTES + 1}-": range(2 * CHUNK_BYTES + 1, size),
        "bytes=-300": range(size - 300, size),
        f"bytes=-{size + 1}": range(0, size),  # more than there is: all of it, still as a part
    }.items():
        part = await answer(storage, range=header)
        assert part.status == 206, header
        assert part.body == video[offsets.start : offsets.stop], header
        assert part.headers["content-range"] == f"bytes {offsets.start}-{offsets.stop - 1}/{size}", header
        assert part.headers["content-length"] == str(len(offsets)), header
        assert part.headers["content-type"] == "video/mp4"
        assert part.headers["accept-ranges"] == "bytes"
        assert (part.headers["etag"], part.headers["cache-control"]) == (etag, "private, max-age=86400")


async def test_a_range_past_the_end_is_refused_with_the_files_size(storage):
    size = len(storage.video)
    for header in (f"bytes={size}-", f"bytes={size}-{size + 9}", "bytes=-0"):
        refused = await answer(storage, range=header)
        assert (refused.status, refused.body) == (416, b""), header
        assert refused.headers["content-range"] == f"bytes */{size}", header


async def test_a_malformed_range_or_several_are_answered_with_the_whole_file(storage):
    for header in ("bytes=9-2", "bytes=x-", "lines=0-1", "bytes=0-1,4-8", "bytes 0-1"):
        whole = await answer(storage, range=header)
        assert (whole.status, whole.body) == (200, storage.video), header
        assert "content-range" not in whole.headers


async def test_if_range_gives_the_part_only_for_this_very_file(storage):
    video, size = storage.video, len(storage.video)
    etag = (await answer(storage, method="HEAD")).headers["etag"]
    # The client's copy is this file: the part
    same = await answer(storage, range="bytes=10-19", if_range=etag)
    assert (same.status, same.body) == (206, video[10:20])
    # Another file's ETag, this one's made weak, a date, this key at another size: the whole file
    await storage.storage.put("3/7/other.mp4", video[:100], "video/mp4")
    other = (await answer(storage, method="HEAD", key="3/7/other.mp4")).headers["etag"]
    assert other != etag
    at_another_size = etag[:-1].rsplit("-", 1)[0] + f'-{size - 1}"'
    for validator in (
        other,
        f"W/{etag}",
        "Tue, 01 Dec 2026 08:00:00 GMT",
        at_another_size,
    ):
        whole = await answer(storage, range="bytes=10-19", if_range=validator)
        assert (whole.status, whole.body) == (200, video), validator
    # And a range past the end is refused only when the copy is this file's
    assert (await answer(storage, range=f"bytes={size}-", if_range=etag)).status == 416
    whole = await answer(storage, range=f"bytes={size}-", if_range=at_another_size)
    assert (whole.status, whole.body) == (200, video)


async def test_a_copy_the_client_holds_is_not_sent_again(storage):
    whole = await answer(storage)
    etag = whole.headers["etag"]
    before = storage.held
    for condition in (etag, f"W/{etag}", f'"elsewhere-1", {etag}'):
        for method in ("GET", "HEAD"):
            kept = await answer(storage, method=method, if_none_match=condition, range="bytes=0-1")
            assert (kept.status, kept.body) == (304, b""), condition
            assert kept.headers["etag"] == etag.removeprefix("W/")
            assert kept.headers["cache-control"] == "private, max-age=86400"
            assert "content-length" not in kept.headers
    assert storage.held == before  # answered without opening the file
    # Another file's tag, a bare prefix of this key's, or "*": the file itself
    await storage.storage.put("3/7/other.mp4", storage.video[:100], "video/mp4")
    other = (await answer(storage, method="HEAD", key="3/7/other.mp4")).headers["etag"]
    for condition in (other, etag.rsplit("-", 1)[0] + '-"', "*", "", '"'):
        sent = await answer(storage, if_none_match=condition)
        assert (sent.status, sent.body) == (200, storage.video), condition


async def test_head_answers_the_headers_without_the_bytes(storage):
    size = len(storage.video)
    whole = await answer(storage, method="HEAD")
    assert (whole.status, whole.body, whole.headers["content-length"]) == (200, b"", str(size))
    part = await answer(storage, method="HEAD", range="bytes=-5")
    assert (part.status, part.body, part.headers["content-length"]) == (206, b"", "5")
    assert part.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"


async def test_a_missing_file_is_not_found_for_a_range_too(storage):
    for asked in ({"range": "bytes=0-1"}, {"range": "bytes=-0"}, {}):
        assert (await answer(storage, key="3/7/gone.mp4", **asked)).status == 404


class Interrupted(Exception):
    pass


async def test_a_part_the_client_leaves_or_the_storage_fails_is_given_back(storage):
    # When a phone seeking in the video leaves after the first chunk of a part
    def leaving() -> Any:
        async def send(message: dict) -> None:
            if message.get("body"):
                raise Interrupted

        return send

    scope = {"type": "http", "method": "GET", "headers": [(b"range", f"bytes={CHUNK_BYTES // 2}-".encode())]}
    # (a connection kept would leave the last ones waiting for the pool: the time limit fails them)
    async with asyncio.timeout(30):
        for _ in range(12):  # more than the bucket client's pool of connections holds
            with pytest.raises(Interrupted):
                await StoredFileResponse(storage, KEY, media_type="video/mp4")(scope, None, leaving())
            # Then the file is given back
            assert storage.held == 0

    # When the storage fails part way through a part
    class Failing:
        @asynccontextmanager
        async def open(self, key: str, wanted: ByteRange | None = None) -> AsyncIterator[StoredFile]:
            async with storage.open(key, wanted) as stored:

                async def chunks() -> AsyncIterator[bytes]:
                    async for chunk in stored.chunks:
                        yield chunk
                        raise OSError("the disk went away")

                yield StoredFile(stored.size, chunks(), stored.part, stored.modified)

    async def send(message: dict) -> None:
        pass

    with pytest.raises(OSError, match="the disk went away"):
        await StoredFileResponse(Failing(), KEY, media_type="video/mp4")(scope, None, send)
    # Then it is given back too, and the next one gets its part
    assert storage.held == 0
    assert (await answer(storage, range="bytes=0-1")).body == storage.video[:2]


def as_person(token: str | None, **headers: str) -> dict[str, str]:
    return {**({"Authorization": f"Bearer {token}"} if token else {}), **headers}


async def fetches_parts_for_the_owner_alone(http: httpx.AsyncClient, gql: Any) -> None:
    """A resident uploads a video and a photo and fetches parts of them; nobody else gets any part."""
    owner = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(owner)
    video = mp4(2 * CHUNK_BYTES + 7)
    uploaded = await upload(http, owner.token, video, community_id, name="walk.mp4")
    assert uploaded.status_code == 201, uploaded.text
    video_url = uploaded.json()["url"]
    photo = (await upload(http, owner.token, jpeg_with_gps(600, 400), community_id)).json()
    photo_urls = (photo["url"], photo["thumbUrl"])
    # The video in parts, as a player asks for it
    first = await http.get(video_url, headers=as_person(owner.token, Range="bytes=0-1"))
    assert (first.status_code, first.content) == (206, video[:2])
    assert first.headers["content-range"] == f"bytes 0-1/{len(video)}"
    assert first.headers["content-type"] == "video/mp4" and first.headers["accept-ranges"] == "bytes"
    later = await http.get(
        video_url,
        headers=as_person(owner.token, Range="bytes=300000-", **{"If-Range": first.headers["etag"]}),
    )
    assert (later.status_code, later.content) == (206, video[300000:])
    tail = await http.get(video_url, headers=as_person(owner.token, Range="bytes=-1000"))
    assert (tail.status_code, tail.content) == (206, video[-1000:])
    past = await http.get(video_url, headers=as_person(owner.token, Range=f"bytes={len(video)}-"))
    assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{len(video)}")
    head = await http.head(video_url, headers=as_person(owner.token, Range="bytes=0-1"))
    assert (head.status_code, head.content, head.headers["content-length"]) == (206, b"", "2")
    # The thumbnail too, whole and in part
    thumb = await http.get(photo["thumbUrl"], headers=as_person(owner.token))
    assert thumb.status_code == 200 and thumb.headers["accept-ranges"] == "bytes"
    thumb_part = await http.get(photo["thumbUrl"], headers=as_person(owner.token, Range="bytes=-100"))
    assert (thumb_part.status_code, thumb_part.content) == (206, thumb.content[-100:])
    assert thumb_part.headers["content-type"] == "image/jpeg"
    # A copy she holds is not sent again
    tags = {url: (await http.head(url, headers=as_person(owner.token))).headers["etag"] for url in photo_urls}
    tags[video_url] = first.headers["etag"]
    held = await http.get(
        photo["thumbUrl"], headers=as_person(owner.token, **{"If-None-Match": thumb.headers["etag"]})
    )
    assert (held.status_code, held.content, held.headers["etag"]) == (304, b"", thumb.headers["etag"])
    # But a resident of another community, and anyone without a login, get no part of either, nor a 304
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    for token in (stranger.token, None):
        for url in (video_url, *photo_urls):
            held = {"If-None-Match": tags[url]}
            assert (await http.get(url, headers=as_person(token, **held))).status_code == 404
            for asked in ("bytes=0-1", "bytes=-1", "bytes=999999999-"):
                refused = await http.get(url, headers=as_person(token, Range=asked))
                assert refused.status_code == 404, (url, asked)
                assert "content-range" not in refused.headers
            assert (await http.head(url, headers=as_person(token, Range="bytes=0-1"))).status_code == 404


async def test_parts_of_files_on_disk_are_for_those_who_may_see_the_files(client, gql):
    await fetches_parts_for_the_owner_alone(client, gql)


async def test_parts_of_files_in_a_bucket_are_for_those_who_may_see_the_files(
    backend,
    tmp_path,
    request,
    bucket,  # noqa: F811 (the fixture imported above)
):
    settings = make_settings(tmp_path, make_database_url(backend, tmp_path, request), **s3(bucket))
    async with started(settings) as app, graphql_client(app) as gql:
        await fetches_parts_for_the_owner_alone(gql.http, gql)
