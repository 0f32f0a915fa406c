"""Uploads are checked by content, capped, re-encoded without location data, and scoped."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from laoyou.media.models import MediaFile

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, login_demo
from .helpers import png_of_one_colour

HOME = "query { viewer { households { community { id } } } }"


def jpeg_with_gps(width: int = 3000, height: int = 2000) -> bytes:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (31.0, 6.0, 0.0), 3: "E", 4: (121.0, 3.0, 0.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def stored_files(app) -> list[Path]:  # noqa: ANN001
    root = app.state.storage.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def community_of(gql) -> str:  # noqa: ANN001
    return (await gql(HOME))["data"]["viewer"]["households"][0]["community"]["id"]


async def upload(
    client, token: str, data: bytes, community_id: str, name: str = "photo.jpg", client_id: str = ""
):  # noqa: ANN001
    return await client.post(
        "/media",
        files={"file": (name, data, "image/jpeg")},
        data={"community_id": community_id, "client_id": client_id},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )


async def test_photo_is_reencoded_without_location_and_with_a_thumbnail(app, client, gql, db):
    # Given a resident and a big phone photo carrying GPS data
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(resident)
    # When they upload it
    response = await upload(client, resident.token, jpeg_with_gps(), community_id)
    # Then it is stored downscaled, as JPEG, without EXIF, with a thumbnail they can fetch
    assert response.status_code == 201, response.text
    body = response.json()
    full = await client.get(body["url"], headers={"Authorization": f"Bearer {resident.token}"})
    assert full.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(full.content))
    assert max(image.size) == 2048
    assert not image.getexif()
    thumb = await client.get(body["thumbUrl"], headers={"Authorization": f"Bearer {resident.token}"})
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320


async def test_bad_uploads_are_refused_and_nothing_is_stored(app, client, gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(resident)
    before_files = stored_files(app)
    before_rows = await db.scalar(select(func.count()).select_from(MediaFile))
    truncated = jpeg_with_gps(400, 300)[:2000]
    cases = {
        "script renamed .jpg": (
            b"#!/bin/sh\nrm -rf /\n" * 10,
            400,
            "This kind of file cannot be sent. Please send a photo, voice note or video.",
        ),
        "50 MB file": (
            b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024),
            413,
            "This file is too large. The limit is 30 MB.",
        ),
        "20 MB photo": (
            b"\xff\xd8\xff\xe0" + b"\0" * (20 * 1024 * 1024),
            400,
            "This file is too large. The limit is 15 MB.",
        ),
        "truncated image": (truncated, 400, "This photo cannot be read. Please take it again."),
        "empty file": (b"", 400, "The file is empty."),
        "6300×6300 PNG of 130 KB": (
            png_of_one_colour(6300),
            400,
            "This photo is too large. Please send a smaller one.",
        ),
        "4097×4096 PNG": (
            png_of_one_colour(4097),
            400,
            "This photo is too large. Please send a smaller one.",
        ),
    }
    for name, (data, status, message) in cases.items():
        response = await upload(client, resident.token, data, community_id)
        assert (response.status_code, response.json()) == (
            status,
            {"error": {"field": "file", "message": message}},
        ), name
    assert stored_files(app) == before_files
    assert await db.scalar(select(func.count()).select_from(MediaFile)) == before_rows


async def test_a_photo_is_turned_upright_as_its_exif_says(app, client, gql, db):
    # Given a phone photo stored sideways, 300 wide and 200 high, that says "turn me 90°" (orientation 6)
    image = Image.new("RGB", (300, 200), (10, 200, 90))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = io.BytesIO()
    image.save(sideways, "JPEG", exif=exif)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When it is uploaded
    response = await upload(client, resident.token, sideways.getvalue(), await community_of(resident))
    # Then it is stored upright, 200 wide and 300 high, without the EXIF that turned it
    assert response.status_code == 201, response.text
    full = await client.get(response.json()["url"], headers={"Authorization": f"Bearer {resident.token}"})
    stored = Image.open(io.BytesIO(full.content))
    assert stored.size == (200, 300) and not stored.getexif()


async def test_a_replayed_upload_returns_the_first_file(app, client, gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(resident)
    first = await upload(client, resident.token, jpeg_with_gps(300, 200), community_id, client_id="c-1")
    again = await upload(client, resident.token, jpeg_with_gps(300, 200), community_id, client_id="c-1")
    assert first.json()["id"] == again.json()["id"]


async def test_strangers_can_neither_upload_into_nor_fetch_from_another_community(app, client, gql, db):
    owner = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(owner)
    stored = (await upload(client, owner.token, jpeg_with_gps(300, 200), community_id)).json()
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    # Fetching someone else's community's photo: not found
    response = await client.get(stored["url"], headers={"Authorization": f"Bearer {stranger.token}"})
    assert response.status_code == 404
    # Uploading into a community that is not theirs: refused, nothing stored
    before = stored_files(app)
    response = await upload(client, stranger.token, jpeg_with_gps(300, 200), community_id)
    assert response.status_code == 404
    assert stored_files(app) == before
    # Anonymous: refused
    assert (await client.get(stored["url"])).status_code == 404
