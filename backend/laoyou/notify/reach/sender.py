"""Sends the climb's steps on WeChat, SMS and voice: claimed under a lease like the push outbox, each step sent
once, retried with backoff when the provider may take it later, and counted per channel and outcome.

A step that cannot be sent (the deployment has no such channel, she has no address on it, or the provider
refused it for good) gives back its cap reservation and lets the notice climb at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person
from laoyou.accounts.sms import SmsError, SmsKind, SmsMessage, SmsSender
from laoyou.core.metrics import Metrics
from laoyou.core.settings import Settings
from laoyou.core.time import utcnow
from laoyou.notify.outbox import opened_url
from laoyou.notify.reach import plan
from laoyou.notify.reach.channels import ChannelFailed, Notice, VoiceSender, WechatSender
from laoyou.notify.reach.models import PAID, Channel, Reach, ReachSend, ReachState, SendStatus, WechatLink
from laoyou.notify.reach.voice import make_voice_sender
from laoyou.notify.reach.wechat import make_wechat_sender

log = logging.getLogger("laoyou.reach")

MAX_ATTEMPTS = 4
BACKOFF = (10.0, 60.0, 300.0)  # seconds before the 2nd, 3rd and 4th try
STALE_CLAIM = timedelta(minutes=5)
SMS_TITLE = 20  # a provider's template variable holds about 20 characters


@dataclass
class ReachStats:
    outcomes: Counter = field(default_factory=Counter)  # (channel, outcome) → sends

    @property
    def handled(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class _Job:
    """One claimed step on its way: what was read for it, then what the provider answered."""

    send: ReachSend
    reach: Reach
    channel: Channel
    address: str | None
    language: str | None
    outcome: str = ""
    ref: str | None = None
    error: str = ""
    retry: bool = False
    gone: bool = False


class ReachSender:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        public_url: str,
        sms: SmsSender | None = None,
        wechat: WechatSender | None = None,
        voice: VoiceSender | None = None,
        batch_size: int = 200,
        concurrency: int = 8,
        counter=None,  # noqa: ANN001  (a prometheus Counter labelled channel, outcome; core.metrics)
    ) -> None:
        self.sessionmaker = sessionmaker
        self.public_url = public_url.rstrip("/")
        self.sms, self.wechat, self.voice = sms, wechat, voice
        self.batch_size = batch_size
        # Providers answer in tens of milliseconds: a batch's sends wait for them together, not in turn (eight
        # at once: more only queue in httpx's connection pool, measured with bench/reach.py).
        self.concurrency = concurrency
        self.counter = counter

    async def aclose(self) -> None:
        for adapter in (self.wechat, self.voice):
            if adapter is not None:
                await adapter.aclose()

    async def drain(self) -> ReachStats:
        stats = ReachStats()
        gate = asyncio.Semaphore(self.concurrency)
        while True:
            lease, claimed = await self._claim()
            if not claimed:
                return stats
            jobs = await self._load(claimed, lease)
            done = await asyncio.gather(*(self._deliver_job(job, gate) for job in jobs))
            await self._record(done, lease, stats)
            if len(claimed) < self.batch_size:
                return stats

    async def _claim(self) -> tuple[str, list[int]]:
        now = utcnow()
        lease = secrets.token_hex(8)
        paid_or_wechat = col(ReachSend.channel) != Channel.push.value
        is_due = (col(ReachSend.status) == SendStatus.pending.value) & (col(ReachSend.next_attempt_at) <= now)
        stale = (col(ReachSend.status) == SendStatus.sending.value) & (
            col(ReachSend.claimed_at) < now - STALE_CLAIM
        )
        async with self.sessionmaker() as session:
            ids = list(
                await session.exec(
                    select(ReachSend.id)
                    .where(paid_or_wechat, is_due | stale)
                    .order_by(ReachSend.id)
                    .limit(self.batch_size)
                )
            )
            if not ids:
                await session.rollback()
                return lease, []
            try:
                claimed = list(
                    (
                        await session.exec(
                            update(ReachSend)
                            .where(col(ReachSend.id).in_(ids), is_due | stale)
                            .values(
                                status=SendStatus.sending.value,
                                claimed_at=now,
                                lease=lease,
                                attempts=ReachSend.attempts + 1,
                            )
                            .returning(ReachSend.id)
                        )
                    ).scalars()
                )
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        return lease, sorted(claimed)

    async def _load(self, claimed: list[int], lease: str) -> list[_Job]:
        """What each claimed step needs, read in one short transaction: nothing is held while providers answer."""
        async with self.sessionmaker() as session:
            rows = list(
                await session.exec(
                    select(ReachSend, Reach, Person)
                    .join(Reach, Reach.id == ReachSend.reach_id)
                    .join(Person, Person.id == Reach.person_id)
                    .where(col(ReachSend.id).in_(claimed), ReachSend.lease == lease)
                )
            )
            openids: dict[int, str] = {}
            if self.wechat is not None:
                wanted = [reach.person_id for send, reach, _ in rows if send.channel == Channel.wechat.value]
                if wanted:
                    found = await session.exec(
                        select(WechatLink.person_id, WechatLink.openid).where(
                            col(WechatLink.person_id).in_(wanted),
                            WechatLink.appid == self.wechat.appid,
                            col(WechatLink.following).is_(True),
                        )
                    )
                    openids = {person_id: openid for person_id, openid in found}
            # Kept as read (a rollback would expire them).
            session.expunge_all()
            await session.rollback()
        jobs = []
        for send, reach, person in rows:
            channel = Channel(send.channel)
            if channel is Channel.wechat:
                address = openids.get(person.id)
            elif channel is Channel.sms:
                address = person.phone if self.sms is not None else None
            else:
                address = person.phone if self.voice is not None else None
            jobs.append(_Job(send, reach, channel, address, person.language))
        return jobs

    async def _deliver_job(self, job: _Job, gate: asyncio.Semaphore) -> _Job:
        async with gate:
            return await self._deliver_one(job)

    async def _deliver_one(self, job: _Job) -> _Job:
        reach, channel = job.reach, job.channel
        if reach.opened_at is not None:
            job.outcome = "opened"  # she opened it meanwhile: nothing more to send
            return job
        if job.address is None:
            job.outcome = "unavailable"
            return job
        notice = Notice(
            kind=reach.kind,
            priority=reach.priority,
            title=reach.title,
            body=reach.body,
            url=self.public_url + opened_url(reach.link, reach.token, channel.value),
            language=job.language,
        )
        try:
            job.ref = await self._deliver(channel, job.address, notice, reference=str(job.send.id))
            job.outcome = "sent"
        except ChannelFailed as exc:
            job.outcome, job.error, job.retry, job.gone = "failed", str(exc)[:200], exc.retry, exc.gone
        except SmsError as exc:
            # The SMS module retries a connection that never opened; anything else may pass later.
            job.outcome, job.error, job.retry = "failed", str(exc)[:200], True
        return job

    async def _deliver(self, channel: Channel, address: str, notice: Notice, *, reference: str) -> str | None:
        if channel is Channel.wechat:
            return await self.wechat.send(address, notice, reference=reference)  # type: ignore[union-attr]
        if channel is Channel.sms:
            title = notice.title if len(notice.title) <= SMS_TITLE else notice.title[: SMS_TITLE - 1] + "…"
            await self.sms.send(address, SmsMessage(SmsKind.notice, {"title": title}))  # type: ignore[union-attr]
            return None
        return await self.voice.call(address, notice, reference=reference)  # type: ignore[union-attr]

    async def _record(self, jobs: list[_Job], lease: str, stats: ReachStats) -> None:
        """The batch's results in one transaction, each written only under the lease that claimed it."""
        now = utcnow()
        sent = [job for job in jobs if job.outcome == "sent"]
        async with self.sessionmaker() as session:
            try:
                if sent:
                    # Most of an emergency's steps were sent: one executemany for them all, not an ORM
                    # statement each (those were most of the worker's time for a district's notice).
                    table = ReachSend.__table__
                    await session.execute(
                        table.update()
                        .where(table.c.id == bindparam("send_id"), table.c.lease == lease)
                        .values(
                            lease=None,
                            status=SendStatus.sent.value,
                            sent_at=now,
                            provider_ref=bindparam("ref"),
                            error="",
                        ),
                        [{"send_id": job.send.id, "ref": job.ref} for job in sent],
                    )
                for job in jobs:
                    if job.outcome != "sent":
                        await self._record_one(session, job, lease, now)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        for job in jobs:
            stats.outcomes[(job.channel.value, job.outcome)] += 1
            if self.counter is not None:
                self.counter.labels(job.channel.value, job.outcome).inc()
            if job.outcome in ("failed", "retried"):
                log.warning(
                    "reach: %s step of notice %s: %s (%s)",
                    job.channel.value,
                    job.reach.id,
                    job.outcome,
                    job.error,
                )

    async def _record_one(self, session: AsyncSession, job: _Job, lease: str, now: datetime) -> None:
        send, reach, channel = job.send, job.reach, job.channel
        again = job.outcome == "failed" and job.retry and send.attempts < MAX_ATTEMPTS
        if again:
            delay = BACKOFF[min(send.attempts, len(BACKOFF)) - 1] * (0.8 + random.random() * 0.4)
            values = {
                "status": SendStatus.pending.value,
                "next_attempt_at": now + timedelta(seconds=delay),
                "error": job.error,
            }
            job.outcome = "retried"
        else:
            status = {"opened": SendStatus.skipped, "unavailable": SendStatus.unavailable}.get(
                job.outcome, SendStatus.failed
            )
            values = {"status": status.value, "error": job.error}
        written = await session.exec(
            update(ReachSend)
            .where(ReachSend.id == send.id, ReachSend.lease == lease)
            .values(lease=None, **values)
        )
        if not written.rowcount or job.outcome not in ("failed", "unavailable"):
            return
        if channel in PAID:
            await plan.release(
                session,
                channel=channel,
                person_id=reach.person_id,
                community_id=reach.community_id,
                when=send.created_at,
            )
        # Nothing reached her on this step: the notice climbs now, not when the step's wait ends.
        await session.exec(
            update(Reach)
            .where(
                Reach.id == reach.id,
                Reach.state == ReachState.climbing.value,
                Reach.step == send.step,
                col(Reach.opened_at).is_(None),
            )
            .values(next_step_at=now)
        )
        if job.gone and channel is Channel.wechat and self.wechat is not None:
            await session.exec(
                update(WechatLink)
                .where(WechatLink.person_id == reach.person_id, WechatLink.appid == self.wechat.appid)
                .values(following=False)
            )


def make_reach_sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    sms: SmsSender | None,
    metrics: Metrics | None = None,
) -> ReachSender:
    """The climb's sender with this deployment's channels: SMS as configured for logins, WeChat and voice when
    their providers are configured."""
    return ReachSender(
        sessionmaker=sessionmaker,
        public_url=settings.public_url,
        sms=sms,
        wechat=make_wechat_sender(settings),
        voice=make_voice_sender(settings),
        counter=metrics.reach_sends if metrics is not None else None,
    )
