"""A person may upload so many files an hour (LAOYOU_UPLOADS_PER_PERSON_HOUR); a replay is not a new upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import select

from laoyou.app import create_app
from laoyou.core.time import utcnow
from laoyou.media.models import MediaFile

from ..conftest import (
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    GraphQLClient,
    login_demo,
    make_database_url,
    make_settings,
)
from .test_uploads import community_of, jpeg_with_gps, upload

REFUSED = {
    "error": {
        "field": "file",
        "message": "You have sent many files in the last hour. Please try again later.",
    }
}


@pytest.fixture
async def limited_app(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An app of its own that allows two uploads an hour."""
    settings = make_settings(
        tmp_path, make_database_url(backend, tmp_path, request), uploads_per_person_hour=2
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_uploads_beyond_the_hourly_allowance_are_refused_until_the_hour_has_passed(limited_app):
    transport = httpx.ASGITransport(app=limited_app, client=("10.9.8.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        gql = GraphQLClient(http)
        # Given a resident who has uploaded two photos this hour
        resident = await login_demo(gql, RESIDENT_XIUSHAN)
        community_id = await community_of(resident)
        first = await upload(http, resident.token, jpeg_with_gps(300, 200), community_id, client_id="first")
        second = await upload(http, resident.token, jpeg_with_gps(300, 200), community_id)
        assert (first.status_code, second.status_code) == (201, 201)
        # When she sends a third
        third = await upload(http, resident.token, jpeg_with_gps(300, 200), community_id)
        # Then it is refused, said in her language, and nothing is stored
        assert (third.status_code, third.json()) == (429, REFUSED)
        async with limited_app.state.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(MediaFile)) == 2
        chinese = await http.post(
            "/media",
            files={"file": ("p.jpg", jpeg_with_gps(300, 200), "image/jpeg")},
            data={"community_id": community_id},
            headers={"Authorization": f"Bearer {resident.token}", "Accept-Language": "zh-CN"},
        )
        assert (chinese.status_code, chinese.json()["error"]["message"]) == (
            429,
            "您这一小时里发的文件太多了，请过一会儿再发。",
        )
        # But the phone replaying the first upload gets the first file back, and another person is not held up
        replay = await upload(http, resident.token, jpeg_with_gps(300, 200), community_id, client_id="first")
        assert (replay.status_code, replay.json()["id"]) == (201, first.json()["id"])
        other = await login_demo(gql, RESIDENT_JINGJU)
        assert (
            await upload(http, other.token, jpeg_with_gps(300, 200), await community_of(other))
        ).status_code == 201
        # And once her uploads are an hour old, she may upload again
        async with limited_app.state.sessionmaker() as session:
            await session.exec(update(MediaFile).values(created_at=utcnow() - timedelta(minutes=61)))
            await session.commit()
        again = await upload(http, resident.token, jpeg_with_gps(300, 200), community_id)
        assert again.status_code == 201, again.text


def test_the_decoders_answer_is_read_as_bytes_never_unpickled():
    import pickle

    from laoyou.media import images

    # A decoder taken over by a crafted file could send anything: a pickle is not run, only refused
    class Boom:
        def __reduce__(self):  # noqa: ANN204
            return (exec, ("raise SystemExit('ran code from the decoder')",))

    for forged in (pickle.dumps(Boom()), b"", b"\x00\x00", images.REFUSED + b"<script>"):
        with pytest.raises(images.ImageRefused) as refused:
            images._read_answer(forged)
        assert str(refused.value) == "unreadable"
    assert str(
        pytest.raises(images.ImageRefused, images._read_answer, images.REFUSED + b"too_large").value
    ) == ("too_large")
    head = images._HEAD.pack(4, 3, 2)
    answer = images._read_answer(head + b"ab" + b"c")
    assert (answer.full, answer.thumb, answer.width, answer.height) == (b"ab", b"c", 4, 3)
