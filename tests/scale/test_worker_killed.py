"""A `laoyou worker` killed (SIGKILL) in the middle of sending the push outbox: nothing is lost (its lease expires
and another worker sends what it held) and nothing reaches a phone twice except what the dead worker may have
handed over before it died (the outbox's documented at-least-once after a lease expiry)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person
from laoyou.core.time import utcnow
from laoyou.notify.models import PushOutbox, PushSubscription
from laoyou.notify.sender import STALE_CLAIM

from ..conftest import BACKENDS, RESIDENT_XIUSHAN
from ..notify.standin import PushStandIn, certificate, serve
from ..notify.test_push import REGISTER
from ..support.servers import AppProcess
from .test_jobs_once import WorkerProcess, eventually

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="several processes need PostgreSQL"),
]

PUSHES = 40


async def test_a_worker_killed_mid_send_loses_no_push_and_sends_none_twice_but_its_own(pg_cluster, tmp_path):
    # Given an app (its push sent by workers) and a resident with three phones at a stand-in push service
    url = pg_cluster.create_database(f"laoyou_killed_{uuid.uuid4().hex[:8]}")
    shared = {"LAOYOU_PUBSUB": "postgres", "LAOYOU_WORKER": "external"}
    engine = create_async_engine(url)
    workers: list[WorkerProcess] = []
    app = AppProcess(tmp_path, url, **shared)
    async with serve(PushStandIn()) as standin:
        try:
            await asyncio.to_thread(app.wait_ready)
            token = await asyncio.to_thread(app.login, RESIDENT_XIUSHAN)
            devices = [standin.new_device() for _ in range(3)]
            for device in devices:
                saved = await asyncio.to_thread(app.graphql, token, REGISTER, device.keys)
                assert saved["registerPushSubscription"]["__typename"] == "PushDeviceSaved"
            # and pushes queued for them
            async with AsyncSession(engine) as db:
                person_id = (
                    await db.exec(select(Person.id).where(Person.phone.endswith(RESIDENT_XIUSHAN)))
                ).one()
                subscriptions = list(
                    await db.exec(select(PushSubscription.id).where(PushSubscription.person_id == person_id))
                )
                assert len(subscriptions) == 3
                await db.execute(
                    insert(PushOutbox),
                    [
                        {
                            "event_key": f"bill:{n}",
                            "subscription_id": subscription_id,
                            "person_id": person_id,
                            "kind": "bill",
                            "payload": json.dumps({"title": f"账单 {n}", "body": "", "url": f"/bills/{n}"}),
                            "next_attempt_at": utcnow() - timedelta(seconds=1),
                        }
                        for n in range(PUSHES)
                        for subscription_id in subscriptions
                    ],
                )
                await db.commit()
            # and the first phone's network hangs, so a worker is caught in the middle of sending
            reached, release = standin.hold(devices[0])

            # When a worker starts sending and is killed while a request of its is on the wire
            worker_env = {**shared, "SSL_CERT_FILE": certificate()[0]}
            workers.append(WorkerProcess(tmp_path, url, 0, **worker_env))
            await asyncio.wait_for(reached.wait(), 60)
            await asyncio.to_thread(workers[0].kill)
            release.set()

            async with AsyncSession(engine) as db:
                orphaned = set(await db.exec(select(PushOutbox.id).where(PushOutbox.status == "sending")))
                assert orphaned, "the killed worker held nothing"
                # and its lease expires (moved back by STALE_CLAIM rather than waited for) while another works
                await db.exec(
                    update(PushOutbox)
                    .where(col(PushOutbox.id).in_(orphaned))
                    .values(claimed_at=utcnow() - STALE_CLAIM - timedelta(seconds=1))
                )
                await db.commit()
                workers.append(WorkerProcess(tmp_path, url, 1, **worker_env))

                async def all_sent() -> bool:
                    db.expire_all()
                    left = select(func.count()).select_from(PushOutbox).where(PushOutbox.status != "sent")
                    return await db.scalar(left) == 0

                await eventually(all_sent, "every push sent, the killed worker's by the other")
                rows = list(await db.exec(select(PushOutbox)))

            # Then every push reached its phone; twice only what the killed worker held when it died
            received = Counter(
                (r.path, r.payload["url"]) for r in standin.received if r.status == 201 and r.payload
            )
            async with AsyncSession(engine) as db:
                paths = dict((await db.exec(select(PushSubscription.id, PushSubscription.endpoint))).all())
            for row in rows:
                key = (
                    paths[row.subscription_id].removeprefix(standin.origin),
                    json.loads(row.payload)["url"],
                )
                times = received[key]
                assert times == 1 or (times == 2 and row.id in orphaned), (row.id, times)
            assert sum(received.values()) >= len(rows)
            assert workers[1].process.poll() is None, "the live worker stopped"
        finally:
            for worker in workers:
                worker.stop()
            app.stop()
            await engine.dispose()
