"""Three `laoyou worker` processes and two app processes on one PostgreSQL database, jobs firing every few
hundred milliseconds: every overdue reminder, escalation, auto-close, scheduled briefing and push happens once,
and a worker killed mid-round loses nothing (its round is rolled back, its push claims expire)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Notification, Role, RoleGrant
from laoyou.billing.models import Bill, BillStatus
from laoyou.briefings.models import Briefing
from laoyou.core.time import local_date, utcnow
from laoyou.notify.models import PushOutbox, PushSubscription
from laoyou.notify.sender import STALE_CLAIM
from laoyou.tickets.models import WorkOrder, WorkOrderEvent

from ..briefings.helpers import COMMUNITIES, CREATE, briefing_input
from ..conftest import BACKENDS, FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..notify.standin import PushStandIn, certificate, serve
from ..notify.test_push import REGISTER
from ..support.servers import CLOCK, AppProcess

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="several processes need PostgreSQL"),
]

SCALE = "0.001"  # billing and work orders every 0.3 s, calls every 0.03 s
PATIENCE = 90.0  # seconds for everything due to be done on a loaded machine


class WorkerProcess:
    """`laoyou worker` in its own process, under the tests' clock."""

    def __init__(self, data_dir: Path, database_url: str, number: int, **env: str) -> None:
        environment = {
            **os.environ,
            "LAOYOU_MODE": "demo",
            "LAOYOU_DATA_DIR": str(data_dir),
            "LAOYOU_DATABASE_URL": database_url,
            "LAOYOU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "LAOYOU_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.log = open(data_dir / f"worker-{number}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(CLOCK), "laoyou.cli", "worker"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def local_ports(self) -> list[int]:
        """The local ports of its TCP connections (its PostgreSQL sessions among them), read from /proc."""
        inodes = set()
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        ports = []
        for line in Path(f"/proc/{self.process.pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
        return ports

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


async def eventually(check: Any, what: str) -> None:
    """Wait until `await check()` is true; fail saying what never happened."""
    deadline = time.monotonic() + PATIENCE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {PATIENCE:g} s: {what}")
        await asyncio.sleep(0.2)


async def test_three_workers_and_two_apps_do_each_due_thing_once_and_a_killed_worker_loses_nothing(
    pg_cluster, tmp_path
):
    # Given a PostgreSQL database with the demo, two app processes, and a stand-in push service
    url = pg_cluster.create_database(f"laoyou_once_{uuid.uuid4().hex[:8]}")
    shared = {"LAOYOU_PUBSUB": "postgres", "LAOYOU_WORKER": "external"}
    apps: list[AppProcess] = []
    workers: list[WorkerProcess] = []
    engine = create_async_engine(url)
    async with serve(PushStandIn()) as standin:
        try:
            apps.append(AppProcess(tmp_path, url, **shared))  # the first migrates and loads the demo alone
            await asyncio.to_thread(apps[0].wait_ready)
            apps.append(AppProcess(tmp_path, url, **shared))
            await asyncio.to_thread(apps[1].wait_ready)
            # and phones for residents, family and the steward, registered through either app
            for n, phone in enumerate(
                (RESIDENT_XIUSHAN, RESIDENT_JINGJU, FAMILY_OF_XIUSHAN, STEWARD_XIUSHAN)
            ):
                server = apps[n % 2]
                token = await asyncio.to_thread(server.login, phone)
                for _ in range(2):
                    device = standin.new_device()
                    saved = await asyncio.to_thread(server.graphql, token, REGISTER, device.keys)
                    assert saved["registerPushSubscription"]["__typename"] == "PushDeviceSaved"
            steward = await asyncio.to_thread(apps[1].login, STEWARD_XIUSHAN)
            communities = await asyncio.to_thread(apps[1].graphql, steward, COMMUNITIES)
            community_ids = [c["id"] for c in communities["briefingCommunities"]]
            briefing_ids = []
            for n in range(3):
                created = await asyncio.to_thread(
                    apps[n % 2].graphql,
                    steward,
                    CREATE,
                    {
                        "input": briefing_input(community_ids, title=f"简报 {n}"),
                        "mode": "SCHEDULED",
                        "publishAt": (utcnow() + timedelta(days=1)).isoformat(),
                    },
                )
                assert created["createBriefing"]["__typename"] == "BriefingSaved", created
                briefing_ids.append(int(created["createBriefing"]["briefing"]["id"]))

            # When, in one transaction, every unpaid bill becomes overdue and unreminded, every open work order
            # overdue and not escalated, the done and closed ones done eight days ago, and the briefings due
            start = utcnow()
            async with AsyncSession(engine) as db:
                unpaid = col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value])
                due_bills = list(await db.exec(select(Bill.id, Bill.household_id).where(unpaid)))
                await db.exec(
                    update(Bill)
                    .where(unpaid)
                    .values(due_date=local_date(start) - timedelta(days=1), reminded_at=None)
                )
                open_orders = list(
                    await db.exec(select(WorkOrder.id).where(col(WorkOrder.is_open).is_(True)))
                )
                await db.exec(
                    update(WorkOrder)
                    .where(col(WorkOrder.is_open).is_(True))
                    .values(
                        response_due_at=start - timedelta(hours=1),
                        completion_due_at=start - timedelta(hours=1),
                        escalation_level=0,
                        escalated_at=None,
                    )
                )
                finished = col(WorkOrder.status).in_(["done", "closed"])
                done_orders = list(await db.exec(select(WorkOrder.id).where(finished)))
                await db.exec(
                    update(WorkOrder)
                    .where(finished)
                    .values(status="done", closed_at=None, done_at=start - timedelta(days=8))
                )
                await db.exec(
                    update(Briefing).where(col(Briefing.id).in_(briefing_ids)).values(publish_at=start)
                )
                await db.commit()
            assert due_bills and open_orders and done_orders

            # and three workers start on it
            for number in range(3):
                workers.append(
                    WorkerProcess(
                        tmp_path,
                        url,
                        number,
                        LAOYOU_JOBS_INTERVAL_SCALE=SCALE,
                        SSL_CERT_FILE=certificate()[0],
                        **shared,
                    )
                )

            # and one worker is killed in the middle of a round: a transaction of its has claimed or written
            # rows (it holds a transaction id) and has not committed
            async with engine.connect() as connection:
                deadline = time.monotonic() + PATIENCE
                while not await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(:ports)"
                        " AND backend_xid IS NOT NULL"
                    ),
                    {"ports": workers[0].local_ports()},
                ):
                    assert time.monotonic() < deadline, "the first worker never claimed anything"
                    await connection.rollback()  # a fresh snapshot of the activity for the next look
            workers[0].kill()

            async with AsyncSession(engine) as db:

                async def all_done() -> bool:
                    db.expire_all()
                    left = [
                        select(func.count()).select_from(Bill).where(unpaid, col(Bill.reminded_at).is_(None)),
                        select(func.count())
                        .select_from(WorkOrder)
                        .where(col(WorkOrder.id).in_(open_orders), WorkOrder.escalation_level == 0),
                        select(func.count()).select_from(WorkOrder).where(WorkOrder.status == "done"),
                        select(func.count()).select_from(Briefing).where(Briefing.status == "scheduled"),
                        select(func.count())
                        .select_from(PushOutbox)
                        .where(PushOutbox.status != "sent", PushOutbox.status != "sending"),
                    ]
                    return all([await db.scalar(q) == 0 for q in left])

                await eventually(all_done, "reminders, escalations, closing, publishing and queued pushes")
                # What is still being sent a while after everything was handed out was the killed worker's:
                # its claims expire (moved back by STALE_CLAIM rather than waited for) and a live worker sends them
                sending: list[int] = []

                async def settled() -> bool:
                    nonlocal sending
                    db.expire_all()
                    now_sending = sorted(
                        await db.exec(select(PushOutbox.id).where(PushOutbox.status == "sending"))
                    )
                    stable, sending = now_sending == sending, now_sending
                    return stable and all(
                        p.claimed_at is not None and p.claimed_at < utcnow() - timedelta(seconds=3)
                        for p in await db.exec(select(PushOutbox).where(col(PushOutbox.id).in_(sending)))
                    )

                await eventually(settled, "the live workers' sends")
                orphaned = set(sending)
                await db.exec(
                    update(PushOutbox)
                    .where(col(PushOutbox.id).in_(orphaned))
                    .values(claimed_at=utcnow() - STALE_CLAIM - timedelta(seconds=1))
                )
                await db.commit()

                async def all_sent() -> bool:
                    db.expire_all()
                    return (
                        await db.scalar(
                            select(func.count()).select_from(PushOutbox).where(PushOutbox.status != "sent")
                        )
                        == 0
                    )

                await eventually(all_sent, "the killed worker's pushes, sent by another")

                # Then each person of each overdue bill's household was reminded of it once
                people: dict[int, set[int]] = {}
                for grant in await db.exec(
                    select(RoleGrant).where(
                        col(RoleGrant.revoked_at).is_(None),
                        col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
                    )
                ):
                    people.setdefault(grant.household_id, set()).add(grant.person_id)
                expected = Counter(
                    (person_id, f"/bills/{bill_id}")
                    for bill_id, household_id in due_bills
                    for person_id in people.get(household_id, ())
                )
                reminded = Counter(
                    (
                        await db.exec(
                            select(Notification.person_id, Notification.link).where(
                                Notification.kind == "bill_overdue", Notification.created_at >= start
                            )
                        )
                    ).all()
                )
                assert expected and reminded == expected
                # And each overdue work order was escalated once, and each done one closed once
                events = Counter(
                    (
                        await db.exec(
                            select(WorkOrderEvent.work_order_id, WorkOrderEvent.action).where(
                                WorkOrderEvent.created_at >= start,
                                col(WorkOrderEvent.action).in_(["escalate", "auto_close"]),
                            )
                        )
                    ).all()
                )
                assert events == Counter(
                    [(i, "escalate") for i in open_orders] + [(i, "auto_close") for i in done_orders]
                )
                told = Counter(
                    (
                        await db.exec(
                            select(Notification.person_id, Notification.link).where(
                                Notification.kind == "work_order_overdue", Notification.created_at >= start
                            )
                        )
                    ).all()
                )
                assert told and set(told.values()) == {1}
                # And each briefing was published once (its residents told once each)
                published = list(
                    await db.exec(select(Briefing.status).where(col(Briefing.id).in_(briefing_ids)))
                )
                assert published == ["published"] * 3
                briefed = Counter(
                    (
                        await db.exec(
                            select(Notification.person_id, Notification.link).where(
                                col(Notification.link).in_([f"/briefings/{i}" for i in briefing_ids])
                            )
                        )
                    ).all()
                )
                assert briefed and set(briefed.values()) == {1}
                # And every push reached its phone; twice only where the killed worker's send may have gone out
                # before it died (its claim expired and another sent it again), never otherwise
                endpoints = dict(
                    (await db.exec(select(PushSubscription.id, PushSubscription.endpoint))).all()
                )
                queued = {
                    row.id: (
                        endpoints[row.subscription_id].removeprefix(standin.origin),
                        json.loads(row.payload),
                    )
                    for row in await db.exec(select(PushOutbox).where(PushOutbox.created_at >= start))
                }
                received = Counter(
                    (r.path, json.dumps(r.payload, sort_keys=True))
                    for r in standin.received
                    if r.status == 201
                )
                assert {payload["url"].split("/")[1] for _path, payload in queued.values()} == {
                    "bills",
                    "orders",
                    "briefings",
                }
                for outbox_id, (path, payload) in queued.items():
                    times = received[(path, json.dumps(payload, sort_keys=True))]
                    assert times == 1 or (times == 2 and outbox_id in orphaned), (outbox_id, times)
            assert all(w.process.poll() is None for w in workers[1:]), "a live worker stopped"
        finally:
            for worker in workers:
                worker.stop()
            for server in apps:
                server.stop()
            await engine.dispose()
