"""Files still attached to nothing a day after upload are removed, row and bytes, once however many workers run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import text, update
from sqlmodel import col, select

from laoyou.accounts.models import Person
from laoyou.app import create_app
from laoyou.core.time import utcnow
from laoyou.estates.models import Community, District
from laoyou.media.jobs import run_media_jobs
from laoyou.media.models import MediaFile

from ..briefings.helpers import CREATE, briefing_input, community_ids
from ..conftest import (
    AGENT_NANNING,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    login_demo,
    make_database_url,
    make_settings,
)
from ..support.helpers import go_online, send
from ..tickets.helpers import report
from .test_uploads import community_of, jpeg_with_gps, upload


def files_of(app: Any, media: MediaFile) -> list[bool]:
    """Whether the photo's bytes and its thumbnail's are on disk."""
    root = app.state.storage.root
    return [(root / key).exists() for key in (media.storage_key, media.thumb_key)]


async def test_a_file_attached_to_nothing_goes_a_day_after_upload_and_attached_ones_stay(
    app, client, gql, db
):
    # Given, uploaded two days ago: a resident's photo for a report that failed (attached to nothing), one
    # she sent with a report, one she sent to customer service, and a steward's photo of a draft briefing
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = await community_of(resident)

    async def photo(who) -> dict:  # noqa: ANN001
        response = await upload(client, who.token, jpeg_with_gps(300, 200), community_id)
        assert response.status_code == 201, response.text
        return response.json()

    stray, reported, chatted = await photo(resident), await photo(resident), await photo(resident)
    assert (await report(resident, photoIds=[reported["id"]]))["__typename"] == "WorkOrderReported"
    await go_online(await login_demo(gql, AGENT_NANNING))
    assert (await send(resident, "门口的灯坏了", mediaId=chatted["id"]))["__typename"] == "ChatMessageSent"
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    drafted = await photo(steward)
    draft = {
        "input": briefing_input([(await community_ids(steward))["秀山花园"]], photoIds=[drafted["id"]]),
        "mode": "DRAFT",
    }
    assert (await steward(CREATE, draft))["data"]["createBriefing"]["__typename"] == "BriefingSaved"
    old = [int(p["id"]) for p in (stray, reported, chatted, drafted)]
    await db.exec(
        update(MediaFile).where(col(MediaFile.id).in_(old)).values(created_at=utcnow() - timedelta(days=2))
    )
    # and one uploaded a minute ago for a report she is still writing
    fresh = await photo(resident)
    ids = [*old, int(fresh["id"])]
    rows = {m.id: m for m in await db.exec(select(MediaFile).where(col(MediaFile.id).in_(ids)))}
    assert all(files_of(app, m) == [True, True] for m in rows.values())
    # When the media job runs
    removed = await run_media_jobs(db, storage=app.state.storage)
    # Then the stray photo is gone, row and bytes, and every other one is still there
    assert removed == 1
    left = set(await db.exec(select(MediaFile.id).where(col(MediaFile.id).in_(ids))))
    assert left == set(ids[1:])
    assert files_of(app, rows[int(stray["id"])]) == [False, False]
    assert all(files_of(app, rows[i]) == [True, True] for i in left)
    headers = {"Authorization": f"Bearer {resident.token}"}
    assert (await client.get(stray["url"], headers=headers)).status_code == 404
    assert (await client.get(fresh["url"], headers=headers)).status_code == 200


async def test_two_workers_running_the_job_at_once_remove_each_file_once(backend, tmp_path, request):
    # Given an app of its own with three stray files from two days ago
    settings = make_settings(tmp_path, make_database_url(backend, tmp_path, request))
    app = create_app(settings, load_demo=False)
    async with app.router.lifespan_context(app):
        storage, sessionmaker = app.state.storage, app.state.sessionmaker
        async with sessionmaker() as session:
            district = District(
                name="片区", city="南宁", operator_name="物业", operator_phone="+8613900000000"
            )
            session.add(district)
            await session.flush()
            community = Community(
                district_id=district.id, name="小区", address="路1号", on_duty_phone="+8613900000001"
            )
            person = Person(phone="+8613900000002")
            session.add_all([community, person])
            await session.flush()
            keys = []
            for n in range(3):
                key = f"{district.id}/{community.id}/stray-{n}.jpg"
                await storage.put(key, b"\xff\xd8\xff", "image/jpeg")
                keys.append(key)
                session.add(
                    MediaFile(
                        community_id=community.id,
                        district_id=district.id,
                        uploaded_by_id=person.id,
                        kind="image",
                        content_type="image/jpeg",
                        size_bytes=3,
                        storage_key=key,
                        sha256="0" * 64,
                        created_at=utcnow() - timedelta(days=2),
                    )
                )
            await session.commit()

        async def second_worker() -> int:
            async with sessionmaker() as session:
                removed = await run_media_jobs(session, storage=storage)
                await session.commit()
                return removed

        # When one worker has removed them but not yet committed, and a second starts the same round
        async with sessionmaker() as first:
            removed_by_first = await run_media_jobs(first, storage=storage)
            second = asyncio.create_task(second_worker())
            await until_waiting_or_done(app, second)
            await first.commit()
        removed_by_second = await second
        # Then the first removed all three and the second none, and neither failed
        assert (removed_by_first, removed_by_second) == (3, 0)
        async with sessionmaker() as session:
            assert list(await session.exec(select(MediaFile.id))) == []
        assert not any((storage.root / key).exists() for key in keys)


async def until_waiting_or_done(app: Any, task: asyncio.Task) -> None:
    """Let the task run until it waits for the other transaction's row locks (PostgreSQL) or has finished.

    On SQLite the second worker's DELETE queues for the write gate in this process; it is given a moment to
    get there. The outcome does not depend on it: a second worker that starts after the commit finds nothing
    to remove either.
    """
    engine = app.state.engine
    postgres = engine.dialect.name == "postgresql"
    for _ in range(500 if postgres else 10):
        if task.done():
            return
        if postgres:
            async with engine.connect() as connection:
                waiting = await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                )
            if waiting:
                return
        await asyncio.sleep(0.02)


def test_the_worker_runs_the_media_job_every_hour():
    # The worker imports the jobs it runs (laoyou.jobs.load_domain_jobs), in a process that imported nothing else
    script = (
        "from laoyou.core import jobs; from laoyou.jobs import load_domain_jobs; load_domain_jobs(); "
        "print(jobs.JOBS['media'].every_seconds)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3600"
