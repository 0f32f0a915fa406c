"""Sends the climb's steps on WeChat, SMS and voice: claimed under a lease like the push outbox, each step sent
once, retried with backoff when the provider may take it later, and counted per channel and outcome.

A step that cannot be sent (the deployment has no such channel, she has no address on it, or the provider
refused it for good) gives back its cap reservation and lets the notice climb at once.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
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
        counter=None,  # noqa: ANN001  (a prometheus Counter labelled channel, outcome; core.metrics)
    ) -> None:
        self.sessionmaker = sessionmaker
        self.public_url = public_url.rstrip("/")
        self.sms, self.wechat, self.voice = sms, wechat, voice
        self.batch_size = batch_size
        self.counter = counter

    async def aclose(self) -> None:
        for adapter in (self.wechat, self.voice):
            if adapter is not None:
                await adapter.aclose()

    async def drain(self) -> ReachStats:
        stats = ReachStats()
        while True:
            lease, claimed = await self._claim()
            if not claimed:
                return stats
            for send_id in claimed:
                await self._send_one(send_id, lease, stats)
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
        return lease, sorted(claimed)

    async def _address(self, session: AsyncSession, channel: Channel, person: Person) -> str | None:
        if channel is Channel.wechat:
            if self.wechat is None:
                return None
            return (
                await session.exec(
                    select(WechatLink.openid).where(
                        WechatLink.person_id == person.id,
                        WechatLink.appid == self.wechat.appid,
                        col(WechatLink.following).is_(True),
                    )
                )
            ).first()
        if channel is Channel.sms:
            return person.phone if self.sms is not None else None
        return person.phone if self.voice is not None else None

    async def _send_one(self, send_id: int, lease: str, stats: ReachStats) -> None:
        async with self.sessionmaker() as session:
            send = await session.get(ReachSend, send_id)
            reach = await session.get(Reach, send.reach_id) if send else None
            person = await session.get(Person, reach.person_id) if reach else None
            if send is None or reach is None or person is None or send.lease != lease:
                await session.rollback()
                return
            channel = Channel(send.channel)
            address = await self._address(session, channel, person)
            # Kept as read (a rollback would expire them), and nothing is held while the provider answers.
            session.expunge_all()
            await session.rollback()
        outcome, ref, error, retry, gone = "sent", None, "", False, False
        if reach.opened_at is not None:
            outcome = "opened"  # she opened it meanwhile: nothing more to send
        elif address is None:
            outcome = "unavailable"
        else:
            notice = Notice(
                kind=reach.kind,
                priority=reach.priority,
                title=reach.title,
                body=reach.body,
                url=self.public_url + opened_url(reach.link, reach.token, channel.value),
                language=person.language,
            )
            try:
                ref = await self._deliver(channel, address, notice, reference=str(send.id))
            except ChannelFailed as exc:
                outcome, error, retry, gone = "failed", str(exc)[:200], exc.retry, exc.gone
            except SmsError as exc:
                # The SMS module retries a connection that never opened; anything else may pass later.
                outcome, error, retry = "failed", str(exc)[:200], True
        await self._record(send, reach, channel, lease, outcome, ref, error, retry, gone, stats)

    async def _deliver(self, channel: Channel, address: str, notice: Notice, *, reference: str) -> str | None:
        if channel is Channel.wechat:
            return await self.wechat.send(address, notice)  # type: ignore[union-attr]
        if channel is Channel.sms:
            title = notice.title if len(notice.title) <= SMS_TITLE else notice.title[: SMS_TITLE - 1] + "…"
            await self.sms.send(address, SmsMessage(SmsKind.notice, {"title": title}))  # type: ignore[union-attr]
            return None
        return await self.voice.call(address, notice, reference=reference)  # type: ignore[union-attr]

    async def _record(
        self,
        send: ReachSend,
        reach: Reach,
        channel: Channel,
        lease: str,
        outcome: str,
        ref: str | None,
        error: str,
        retry: bool,
        gone: bool,
        stats: ReachStats,
    ) -> None:
        now = utcnow()
        again = outcome == "failed" and retry and send.attempts < MAX_ATTEMPTS
        if outcome == "sent":
            values = {"status": SendStatus.sent.value, "sent_at": now, "provider_ref": ref, "error": ""}
        elif again:
            delay = BACKOFF[min(send.attempts, len(BACKOFF)) - 1] * (0.8 + random.random() * 0.4)
            values = {
                "status": SendStatus.pending.value,
                "next_attempt_at": now + timedelta(seconds=delay),
                "error": error,
            }
            outcome = "retried"
        else:
            status = {"opened": SendStatus.skipped, "unavailable": SendStatus.unavailable}.get(
                outcome, SendStatus.failed
            )
            values = {"status": status.value, "error": error}
        async with self.sessionmaker() as session:
            try:
                written = await session.exec(
                    update(ReachSend)
                    .where(ReachSend.id == send.id, ReachSend.lease == lease)
                    .values(lease=None, **values)
                )
                if written.rowcount and outcome in ("failed", "unavailable"):
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
                    if gone and channel is Channel.wechat and self.wechat is not None:
                        await session.exec(
                            update(WechatLink)
                            .where(
                                WechatLink.person_id == reach.person_id, WechatLink.appid == self.wechat.appid
                            )
                            .values(following=False)
                        )
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        stats.outcomes[(channel.value, outcome)] += 1
        if self.counter is not None:
            self.counter.labels(channel.value, outcome).inc()
        if outcome in ("failed", "retried"):
            log.warning("reach: %s step of notice %s: %s (%s)", channel.value, reach.id, outcome, error)


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
        voice=None,
        counter=metrics.reach_sends if metrics is not None else None,
    )
