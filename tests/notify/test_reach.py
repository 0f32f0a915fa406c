"""Reach: a notice climbs from push to WeChat, SMS and a call until it is opened, once per step, within the
caps, holding for quiet hours unless it is an emergency; the sender retries what may pass and moves on from what
cannot; strangers see nothing of it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, func, update
from sqlmodel import col, select

from laoyou.accounts import service as accounts
from laoyou.accounts.models import AuditEvent, Person, Role
from laoyou.accounts.sms import AliyunSms, ConsoleSmsSender, SmsKind
from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied
from laoyou.core.phone import national, normalise_phone
from laoyou.core.time import local, utcnow
from laoyou.notify import service as notify
from laoyou.notify.models import PushOutbox, PushSubscription
from laoyou.notify.reach import plan
from laoyou.notify.reach import service as reach
from laoyou.notify.reach.channels import CallReport, ChannelFailed, Notice
from laoyou.notify.reach.models import (
    Channel,
    Priority,
    Reach,
    ReachCap,
    ReachChoice,
    ReachSend,
    ReachState,
    ReachUsage,
    SendStatus,
    WechatLink,
)
from laoyou.notify.reach.sender import ReachSender, ReachStats
from laoyou.notify.reach.voice import AliyunVoice
from laoyou.notify.reach.wechat import WechatOfficialAccount

from ..accounts.sms_standins import AliyunStandIn
from ..billing.helpers import actor_for
from ..conftest import ADMIN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from .voice_standin import AliyunVoiceStandIn
from .wechat_standin import APPID, WechatStandIn

KEY = "p" * 87  # a P-256 point's base64url length, never decrypted here: push is not this file's subject


class FakeVoice:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Notice, str]] = []
        self.fail: ChannelFailed | None = None

    async def call(self, phone: str, notice: Notice, *, reference: str) -> str:
        if self.fail is not None:
            raise self.fail
        self.calls.append((phone, notice, reference))
        return f"call-{len(self.calls)}"

    async def aclose(self) -> None:
        pass


SMS_TEMPLATE = "SMS_200000001"
TTS = {"emergency": "TTS_100000001", "important": "TTS_100000002"}


@pytest.fixture
def channels():  # noqa: ANN201
    """Protocol-exact stand-ins of WeChat's official account, Alibaba Cloud SMS and its voice service."""
    with (
        AliyunStandIn(templates={SMS_TEMPLATE: ("title",)}) as sms,
        AliyunVoiceStandIn(templates={code: ("title",) for code in TTS.values()}) as voice,
    ):
        yield WechatStandIn(), sms, voice


@pytest.fixture
async def sender(app, db, channels):  # noqa: ANN001, ANN201
    """The sender with the real adapters, each talking to its stand-in."""
    wechat, sms, voice = channels
    async with httpx.AsyncClient() as client:
        made = ReachSender(
            sessionmaker=app.state.sessionmaker,
            public_url="https://laoyou.example.cn",
            sms=AliyunSms(
                access_key_id=sms.access_key_id,
                access_key_secret=sms.access_key_secret,
                sign=sms.sign,
                templates={SmsKind.notice: SMS_TEMPLATE},
                url=sms.url,
                client=client,
            ),
            wechat=WechatOfficialAccount(
                appid=APPID,
                secret=wechat.secret,
                template_id=wechat.template_id,
                keywords={"thing1": "title", "thing2": "body", "time3": "time"},
                api_base="https://api.weixin.qq.com",
                transport=httpx.ASGITransport(app=wechat.app()),
            ),
            voice=AliyunVoice(
                access_key_id=voice.access_key_id,
                access_key_secret=voice.access_key_secret,
                templates=TTS,
                url=voice.url,
                client=client,
            ),
        )
        yield made
        await made.aclose()


def texted(sms) -> list[str]:  # noqa: ANN001
    return sorted(national(d.phone) for d in sms.delivered)


def rung(voice) -> list[str]:  # noqa: ANN001
    return sorted(national(p.phone) for p in voice.placed)


async def phone_of(db, person_id: int) -> str:  # noqa: ANN001
    return national((await db.get(Person, person_id)).phone)


async def community_of(db, phone: str) -> int:  # noqa: ANN001
    person = await accounts.person_by_phone(db, normalise_phone(phone))
    grants = await accounts.live_grants(db, person.id)
    return next(g.community_id for g in grants if g.role == Role.resident.value)


async def clean_slate(db, people: list[int]) -> None:  # noqa: ANN001
    """Whatever the demo gave them, these people start with no device, no WeChat link and no choices."""
    for model in (PushSubscription, WechatLink, ReachChoice):
        await db.exec(delete(model).where(col(model.person_id).in_(people)))
    await db.exec(delete(ReachUsage))
    await db.exec(delete(ReachCap))
    await db.flush()


async def give_push(db, person_id: int) -> None:  # noqa: ANN001
    db.add(
        PushSubscription(
            person_id=person_id, endpoint=f"https://push.example/{person_id}", p256dh=KEY, auth="a" * 22
        )
    )
    await db.flush()


async def give_wechat(db, person_id: int) -> None:  # noqa: ANN001
    db.add(WechatLink(person_id=person_id, appid=APPID, openid=f"o-{person_id}"))
    await db.flush()


async def reaches_of(db, event_key: str) -> dict[int, Reach]:  # noqa: ANN001
    rows = await db.exec(
        select(Reach).where(Reach.event_key == event_key).execution_options(populate_existing=True)
    )
    return {r.person_id: r for r in rows}


async def steps_of(db, reach_id: int) -> list[tuple[str, str]]:  # noqa: ANN001
    rows = await db.exec(
        select(ReachSend)
        .where(ReachSend.reach_id == reach_id)
        .order_by(ReachSend.step)
        .execution_options(populate_existing=True)
    )
    return [(s.channel, s.status) for s in rows]


async def emergency(db, title: str = "3号楼停水") -> tuple[int, list[int]]:  # noqa: ANN001
    community = await community_of(db, RESIDENT_XIUSHAN)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    (notice,) = await notify.do_send_emergency(
        db, actor=steward, community_ids=[community], kind="water_cut", title=title, body="今晚8点恢复"
    )
    await db.flush()
    return notice.id, sorted(await notify.community_audience(db, [community]))


async def setup_community(db) -> dict[str, int]:  # noqa: ANN001
    """Four kinds of resident: push only, WeChat only, a phone only, and one who asked to be called."""
    community = await community_of(db, RESIDENT_XIUSHAN)
    people = sorted(await notify.community_audience(db, [community]))
    assert len(people) >= 4, "the demo community needs at least four residents and family"
    await clean_slate(db, people)
    roles = {"push": people[0], "wechat": people[1], "phone": people[2], "call_me": people[3]}
    await give_push(db, roles["push"])
    await give_wechat(db, roles["wechat"])
    db.add(ReachChoice(person_id=roles["call_me"], call_me=True))
    await db.flush()
    return roles


def ladder_of(r: Reach) -> list[str]:
    return r.ladder.split(",")


async def test_an_emergency_climbs_once_per_step_until_opened(db, sender, channels):  # noqa: ANN001
    wechat, sms, voice = channels
    roles = await setup_community(db)
    notice_id, people = await emergency(db)
    reaches = await reaches_of(db, notify.emergency_event_key(notice_id))
    # Everyone in the community has a climb: an emergency must reach every person.
    assert set(reaches) == set(people)
    assert ladder_of(reaches[roles["push"]]) == ["push", "sms", "voice"]
    assert ladder_of(reaches[roles["wechat"]]) == ["wechat", "sms", "voice"]
    assert ladder_of(reaches[roles["phone"]]) == ["sms", "voice"]
    assert ladder_of(reaches[roles["call_me"]]) == ["voice", "sms"]
    # Push went out with the notice, carrying her token so that opening it stops the climb.
    pushed = (await db.exec(select(PushOutbox).where(PushOutbox.person_id == roles["push"]))).all()
    assert len(pushed) == 1 and f"r={reaches[roles['push']].token}.push" in pushed[0].payload

    stats = await sender.drain()
    again = await sender.drain()  # a second round finds nothing left to send
    assert again.handled == 0
    assert [m.openid for m in wechat.sent] == [f"o-{roles['wechat']}"]
    assert wechat.sent[0].message["url"].startswith("https://laoyou.example.cn/emergencies/")
    assert wechat.sent[0].message["url"].endswith(f"r={reaches[roles['wechat']].token}.wechat")
    # Carrying its step's id, so that a retry of it is not a second message
    assert wechat.sent[0].message["client_msg_id"].startswith("laoyou-")
    phone_only = [p for p in people if p not in (roles["push"], roles["wechat"], roles["call_me"])]
    assert texted(sms) == sorted([await phone_of(db, p) for p in phone_only])
    assert rung(voice) == [await phone_of(db, roles["call_me"])]
    assert stats.outcomes[("sms", "sent")] == len(phone_only)

    # Two minutes later, unopened: each climbs one step, once however often the job runs.
    later = utcnow() + timedelta(minutes=2, seconds=5)
    first = await reach.climb_due(db, now=later)
    second = await reach.climb_due(db, now=later)
    assert first.climbed == len(people) and second.climbed == 0
    # She opens the push: her climb stops before the SMS goes out.
    assert await reach.do_open(db, opened=f"{reaches[roles['push']].token}.push")
    await db.flush()
    sms.delivered.clear()
    voice.placed.clear()
    await sender.drain()
    sent_sms = set(texted(sms))
    push_phone = await phone_of(db, roles["push"])
    assert push_phone not in sent_sms
    assert await phone_of(db, roles["wechat"]) in sent_sms
    assert await phone_of(db, roles["call_me"]) in sent_sms
    assert rung(voice) == sorted([await phone_of(db, p) for p in phone_only])

    after = await reaches_of(db, notify.emergency_event_key(notice_id))
    assert after[roles["push"]].state == ReachState.opened.value
    assert after[roles["push"]].opened_via == "push"
    assert await steps_of(db, after[roles["push"]].id) == [("push", "sent"), ("sms", "skipped")]
    # Every (notice, person, step) was sent at most once: the sends table's unique key, and the fakes agree.
    counted = Counter(rung(voice))
    assert all(n == 1 for n in counted.values())

    # The last step: WeChat's resident climbs to a call; the phone-only ones have tried every channel.
    final = await reach.climb_due(db, now=later + timedelta(minutes=2, seconds=5))
    assert (final.climbed, final.exhausted) == (1, 0)  # the others' last step is already out
    done = await reaches_of(db, notify.emergency_event_key(notice_id))
    assert done[roles["wechat"]].channels[done[roles["wechat"]].step] is Channel.voice
    for person in phone_only:
        assert done[person].state == ReachState.exhausted.value


async def test_a_sent_step_is_written_only_under_the_lease_that_claimed_it(db, sender, channels):  # noqa: ANN001
    await setup_community(db)
    await emergency(db)
    lease, claimed = await sender._claim()
    assert len(claimed) >= 3
    jobs = await sender._load(claimed, lease)
    for job in jobs:
        job.outcome, job.ref = "sent", f"ref-{job.send.id}"
    # The first step's claim went stale meanwhile, and another worker took it over
    taken = claimed[0]
    await db.exec(update(ReachSend).where(ReachSend.id == taken).values(lease="another-worker"))
    await sender._record(jobs, lease, ReachStats())
    rows = {
        row.id: row
        for row in await db.exec(
            select(ReachSend).where(col(ReachSend.id).in_(claimed)).execution_options(populate_existing=True)
        )
    }
    # Its row is the other worker's still; every other step is recorded sent, with its provider's reference
    assert (rows[taken].status, rows[taken].lease, rows[taken].sent_at) == (
        SendStatus.sending.value,
        "another-worker",
        None,
    )
    for send_id in claimed[1:]:
        row = rows[send_id]
        assert (row.status, row.lease, row.provider_ref) == (SendStatus.sent.value, None, f"ref-{send_id}")
        assert row.sent_at is not None and row.error == ""


async def test_a_call_confirmed_with_1_stops_the_climb(db, sender, channels):  # noqa: ANN001
    _, _, voice = channels
    roles = await setup_community(db)
    notice_id, _ = await emergency(db)
    await sender.drain()
    [placed] = voice.placed  # only she is called first
    call_id = placed.call_id
    send = (await db.exec(select(ReachSend).where(ReachSend.provider_ref == call_id))).one()
    assert await reach.do_voice_report(db, CallReport(call_id=call_id, answered=True, keypress="1"))
    assert not await reach.do_voice_report(db, CallReport(call_id="nobody's", answered=True, keypress="1"))
    reached = (await reaches_of(db, notify.emergency_event_key(notice_id)))[roles["call_me"]]
    assert send.reach_id == reached.id
    assert reached.state == ReachState.opened.value and reached.opened_via == "voice"
    climbed = await reach.climb_due(db, now=utcnow() + timedelta(minutes=3))
    assert reached.id not in {r.id for r in (await reaches_of(db, "x")).values()}
    assert climbed.climbed >= 1  # the others climb; she does not
    assert await steps_of(db, reached.id) == [("voice", "sent")]


def quiet_around_now() -> tuple[int, int]:
    here = local(utcnow())
    minute = here.hour * 60 + here.minute
    return (minute - 60) % 1440, (minute + 60) % 1440


async def test_quiet_hours_hold_what_is_not_an_emergency(db, sender, channels):  # noqa: ANN001
    _, sms, _ = channels
    person = await accounts.person_by_phone(db, normalise_phone(RESIDENT_JINGJU))
    await clean_slate(db, [person.id])
    await give_push(db, person.id)
    start, end = quiet_around_now()
    db.add(ReachChoice(person_id=person.id, quiet_start=start, quiet_end=end))
    await db.flush()
    await accounts.do_notify(db, person_id=person.id, kind="bill_overdue", title="物业费待缴", link="/bills")
    row = (
        await db.exec(select(Reach).where(Reach.person_id == person.id, Reach.kind == "bill_overdue"))
    ).one()
    assert row.priority == Priority.important.value
    push = (await db.exec(select(PushOutbox).where(PushOutbox.person_id == person.id))).one()
    # The push waits for the end of her quiet hours, about an hour from now.
    assert timedelta(minutes=50) < push.next_attempt_at - utcnow() <= timedelta(minutes=61)
    # The climb to SMS comes two hours after that, not two hours after now.
    assert row.next_step_at - push.next_attempt_at == timedelta(hours=2)
    # Were the climb due while she is still quiet, it waits again rather than texting her.
    await db.exec(update(Reach).where(Reach.id == row.id).values(next_step_at=utcnow()))
    report = await reach.climb_due(db, now=utcnow() + timedelta(seconds=1))
    assert report.deferred == 1 and report.climbed == 0
    await sender.drain()
    assert sms.delivered == []  # nothing texted

    # An emergency comes through at once, quiet hours or not.
    community = await community_of(db, RESIDENT_JINGJU)
    steward = await actor_for(db, STEWARD_YUEYANG if await _serves(db, STEWARD_YUEYANG, community) else ADMIN)
    (notice,) = await notify.do_send_emergency(
        db, actor=steward, community_ids=[community], kind="lift_out", title="电梯停运", body=""
    )
    emergency_push = (
        await db.exec(
            select(PushOutbox).where(PushOutbox.person_id == person.id, PushOutbox.kind == "emergencies")
        )
    ).one()
    assert emergency_push.next_attempt_at <= utcnow()
    mine = (await reaches_of(db, notify.emergency_event_key(notice.id)))[person.id]
    assert mine.next_step_at - mine.created_at == timedelta(minutes=2)


async def _serves(db, phone: str, community_id: int) -> bool:  # noqa: ANN001
    actor = await actor_for(db, phone)
    return community_id in (await notify.steward_community_ids(db, actor) or set())


async def test_caps_are_never_passed(db, sender, channels, monkeypatch):  # noqa: ANN001
    _, sms, voice = channels
    roles = await setup_community(db)
    community = await community_of(db, RESIDENT_XIUSHAN)
    admin = await actor_for(db, ADMIN)
    await reach.do_set_cap(db, actor=admin, community_id=community, channel="sms", monthly=1)
    notice_id, people = await emergency(db)
    reaches = await reaches_of(db, notify.emergency_event_key(notice_id))
    statuses = Counter(
        [(await steps_of(db, reaches[p].id))[0] for p in people if ladder_of(reaches[p])[0] == "sms"]
    )
    # One SMS fits this month's cap; the others are recorded as capped and go straight to a call.
    assert statuses[("sms", "pending")] == 1
    assert statuses[("sms", "capped")] == sum(statuses.values()) - 1
    await sender.drain()
    assert len(sms.delivered) == 1
    used = (
        await db.exec(
            select(ReachUsage.used).where(
                ReachUsage.scope == "community", ReachUsage.scope_id == community, ReachUsage.channel == "sms"
            )
        )
    ).one()
    assert used == 1
    # The capped ones climb to a call at the next round, not two minutes later.
    report = await reach.climb_due(db, now=utcnow() + timedelta(seconds=1))
    assert report.climbed == statuses[("sms", "capped")]
    # A second emergency this month climbs past SMS entirely; calls go on within the voice cap.
    await reach.do_set_cap(db, actor=admin, community_id=community, channel="voice", monthly=0)
    second, _ = await emergency(db, "再次停水")
    for row in (await reaches_of(db, notify.emergency_event_key(second))).values():
        steps = await steps_of(db, row.id)
        assert all(status != "pending" for channel, status in steps if channel in ("sms", "voice")), steps
    del roles


async def test_a_persons_daily_cap(db, sender, channels, monkeypatch):  # noqa: ANN001
    _, sms, _ = channels
    monkeypatch.setenv("LAOYOU_REACH_SMS_DAILY_PER_PERSON", "1")
    from laoyou.core.settings import get_settings

    get_settings.cache_clear()
    try:
        person = await accounts.person_by_phone(db, normalise_phone(RESIDENT_JINGJU))
        await clean_slate(db, [person.id])
        for title in ("账单一", "账单二"):
            await accounts.do_notify(db, person_id=person.id, kind="bill_overdue", title=title, link="/bills")
        rows = (await db.exec(select(Reach).where(Reach.person_id == person.id).order_by(Reach.id))).all()
        assert [(await steps_of(db, r.id))[0] for r in rows] == [("sms", "pending"), ("sms", "capped")]
        await sender.drain()
        assert len(sms.delivered) == 1
    finally:
        get_settings.cache_clear()


async def test_a_climb_round_counts_her_two_notices_against_her_day_one_by_one(db, monkeypatch):  # noqa: ANN001
    # Given her daily SMS cap of 1, and two emergencies to her climbing to SMS in the same round
    monkeypatch.setenv("LAOYOU_REACH_SMS_DAILY_PER_PERSON", "1")
    from laoyou.core.settings import get_settings

    get_settings.cache_clear()
    try:
        person = await accounts.person_by_phone(db, normalise_phone(RESIDENT_JINGJU))
        await clean_slate(db, [person.id])
        await give_push(db, person.id)
        for title in ("停水", "停电"):
            await accounts.do_notify(db, person_id=person.id, kind="emergencies", title=title, link="/")
        rows = (await db.exec(select(Reach).where(Reach.person_id == person.id).order_by(Reach.id))).all()
        assert [ladder_of(r)[:2] for r in rows] == [["push", "sms"], ["push", "sms"]]
        # When the climb job runs after two minutes unopened
        report = await reach.climb_due(db, now=utcnow() + timedelta(minutes=3))
        # Then one goes out as SMS and the other, over her day's cap, goes straight on to a call
        assert report.climbed == 2
        steps = [await steps_of(db, r.id) for r in rows]
        assert sorted(s[1:] for s in steps) == [
            [("sms", "capped"), ("voice", "pending")],
            [("sms", "pending")],
        ]
        used = (
            await db.exec(
                select(ReachUsage.used).where(
                    ReachUsage.scope == "person",
                    ReachUsage.scope_id == person.id,
                    ReachUsage.channel == "sms",
                )
            )
        ).one()
        assert used == 1
    finally:
        get_settings.cache_clear()


async def test_a_step_that_cannot_be_sent_climbs_at_once(app, db):  # noqa: ANN001
    voice = FakeVoice()
    sender = ReachSender(sessionmaker=app.state.sessionmaker, public_url="https://x.example", voice=voice)
    roles = await setup_community(db)
    notice_id, _ = await emergency(db)
    voice.fail = ChannelFailed("busy", retry=True, code="Throttling")
    await sender.drain()
    mine = (await reaches_of(db, notify.emergency_event_key(notice_id)))[roles["call_me"]]
    send = (await db.exec(select(ReachSend).where(ReachSend.reach_id == mine.id))).one()
    await db.refresh(send)
    # Tried again later: the provider may take it then.
    assert send.status == SendStatus.pending.value and send.attempts == 1 and send.next_attempt_at > utcnow()
    voice.fail = ChannelFailed("number does not exist", retry=False, code="InvalidCalledNumber")
    await db.exec(update(ReachSend).where(ReachSend.id == send.id).values(next_attempt_at=utcnow()))
    await sender.drain()
    await db.refresh(send)
    await db.refresh(mine)
    assert send.status == SendStatus.failed.value
    # Nothing reached her: the next channel is due now, and the call is not counted against the cap.
    assert mine.next_step_at <= utcnow()
    used = (
        await db.exec(
            select(ReachUsage.used).where(
                ReachUsage.scope == "person",
                ReachUsage.scope_id == mine.person_id,
                ReachUsage.channel == "voice",
            )
        )
    ).one()
    assert used == 0


async def test_without_a_provider_the_step_is_skipped(app, db):  # noqa: ANN001
    sms = ConsoleSmsSender()
    no_providers = ReachSender(
        sessionmaker=app.state.sessionmaker,
        public_url="https://x.example",
        sms=sms,
        wechat=None,
        voice=None,
    )
    roles = await setup_community(db)
    notice_id, _ = await emergency(db)
    await no_providers.drain()
    mine = (await reaches_of(db, notify.emergency_event_key(notice_id)))[roles["call_me"]]
    assert await steps_of(db, mine.id) == [("voice", "unavailable")]
    theirs = (await reaches_of(db, notify.emergency_event_key(notice_id)))[roles["wechat"]]
    assert await steps_of(db, theirs.id) == [("wechat", "unavailable")]


async def test_a_normal_notice_uses_the_best_free_channel_only(db):  # noqa: ANN001
    roles = await setup_community(db)
    for key in ("push", "wechat", "phone"):
        await accounts.do_notify(
            db, person_id=roles[key], kind="briefing", title="今日简报", link="/briefings"
        )
    rows = {r.person_id: r for r in await db.exec(select(Reach).where(Reach.kind == "briefing"))}
    # Push as always, no climb row; WeChat for who has no push; nothing costs money for a normal notice.
    assert roles["push"] not in rows and roles["phone"] not in rows
    assert ladder_of(rows[roles["wechat"]]) == ["wechat"] and rows[roles["wechat"]].next_step_at is None


async def test_choices_are_checked_and_kept(db):  # noqa: ANN001
    resident = await actor_for(db, RESIDENT_JINGJU)
    with pytest.raises(LaoyouError):
        await reach.do_set_choice(
            db, actor=resident, channels=["fax"], call_me=False, quiet_start=0, quiet_end=0
        )
    with pytest.raises(LaoyouError):
        await reach.do_set_choice(
            db, actor=resident, channels=["sms"], call_me=True, quiet_start=0, quiet_end=0
        )
    with pytest.raises(LaoyouError):
        await reach.do_set_choice(
            db, actor=resident, channels=["sms"], call_me=False, quiet_start=1440, quiet_end=0
        )
    saved = await reach.do_set_choice(
        db, actor=resident, channels=["push", "voice"], call_me=True, quiet_start=22 * 60, quiet_end=7 * 60
    )
    assert saved.off == "wechat,sms" and saved.call_me
    assert plan.ladder(Priority.important, push=True, wechat=True, off={"wechat", "sms"}, call_me=True) == [
        Channel.voice
    ]


async def test_strangers_cannot_see_or_use_a_notices_reach(db):  # noqa: ANN001
    await setup_community(db)
    notice_id, _ = await emergency(db)
    other_steward = await actor_for(db, STEWARD_YUEYANG)
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    for actor in (other_steward, resident):
        with pytest.raises(NotFound):
            await reach.emergency_reach(db, actor=actor, notice_id=notice_id)
        with pytest.raises(NotFound):
            await reach.access_steward_notice(db, actor=actor, notice_id=notice_id)
        with pytest.raises(NotFound):
            await reach.do_call_unreached(db, actor=actor, notice_id=notice_id)
    with pytest.raises(PermissionDenied):
        await reach.costs(db, actor=resident)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    community = await community_of(db, RESIDENT_XIUSHAN)
    with pytest.raises(PermissionDenied):
        await reach.do_set_cap(db, actor=steward, community_id=community, channel="sms", monthly=5)
    # An unknown or forged token opens nothing.
    assert not await reach.do_open(db, opened="not-a-token.push")
    assert not await reach.do_open(db, opened="")


async def test_the_steward_sees_who_was_reached_and_calls_the_rest(db, sender, channels):  # noqa: ANN001
    _, _, voice = channels
    roles = await setup_community(db)
    notice_id, people = await emergency(db)
    reaches = await reaches_of(db, notify.emergency_event_key(notice_id))
    await reach.do_open(db, opened=f"{reaches[roles['push']].token}.push")
    await sender.drain()
    steward = await actor_for(db, STEWARD_XIUSHAN)
    notice, rows = await reach.emergency_reach(db, actor=steward, notice_id=notice_id)
    assert {row.person.id for row in rows} == set(people)
    assert rows[-1].reached_by == "push"  # the reached come last: the list is who to call
    assert all(row.reached_by is None for row in rows[:-1])
    voice.placed.clear()
    queued = await reach.do_call_unreached(db, actor=steward, notice_id=notice_id)
    # Everyone not reached gets a call, except her whose call is already on its way or made this minute.
    assert queued == len(people) - 1 - 0
    again = await reach.do_call_unreached(db, actor=steward, notice_id=notice_id)
    assert again == 0  # the calls are already queued
    stats = await sender.drain()
    # The provider rings one number once a minute: her who was called first is tried again shortly.
    assert len(voice.placed) + stats.outcomes[("voice", "retried")] == queued
    assert stats.outcomes[("voice", "retried")] <= 1
    costs = {c.community.id: c for c in await reach.costs(db, actor=steward)}
    assert costs[notice.community_id].voice >= queued


async def test_unfollowed_on_wechat_climbs_at_once(db, sender, channels):  # noqa: ANN001
    wechat, _, _ = channels
    roles = await setup_community(db)
    wechat.unfollowed.add(f"o-{roles['wechat']}")
    notice_id, _ = await emergency(db)
    await sender.drain()
    mine = (await reaches_of(db, notify.emergency_event_key(notice_id)))[roles["wechat"]]
    assert await steps_of(db, mine.id) == [("wechat", "failed")]
    assert mine.next_step_at <= utcnow()  # SMS is next, now
    link = (await db.exec(select(WechatLink).where(WechatLink.person_id == roles["wechat"]))).one()
    await db.refresh(link)
    assert link.following is False  # and nothing more is sent there


# --- the steward's report a page at a time ---------------------------------------------------------------------


async def add_unhoused_resident(db, community_id: int, name: str = "无房登记") -> int:  # noqa: ANN001
    """A resident of the community with no flat on record (a grant to the community alone)."""
    from laoyou.accounts.models import RoleGrant
    from laoyou.estates.models import Community

    community = await db.get(Community, community_id)
    person = Person(name=name, phone=normalise_phone("13900000471"))
    db.add(person)
    await db.flush()
    db.add(
        RoleGrant(
            person_id=person.id,
            role=Role.resident.value,
            community_id=community_id,
            district_id=community.district_id,
        )
    )
    await db.flush()
    return person.id


async def every_page(db, steward, notice, *, reached: bool, building: str | None = None, first: int = 2):  # noqa: ANN001, ANN201
    """Every page of the report's list, in order, following each page's end cursor."""
    pages, after = [], None
    while True:
        page = await reach.reach_page(
            db, actor=steward, notice=notice, reached=reached, building=building, first=first, after=after
        )
        pages.append(page)
        assert len(page.rows) <= first
        if not page.has_next:
            return pages
        after = page.end_cursor


async def test_the_report_counts_everyone_and_pages_those_not_reached_by_building(db, sender):  # noqa: ANN001
    roles = await setup_community(db)
    community = await community_of(db, RESIDENT_XIUSHAN)
    unhoused = await add_unhoused_resident(db, community)
    notice_id, people = await emergency(db)
    assert unhoused in people
    reaches = await reaches_of(db, notify.emergency_event_key(notice_id))
    await reach.do_open(db, opened=f"{reaches[roles['push']].token}.push")
    await reach.do_open(db, opened=f"{reaches[roles['wechat']].token}.wechat")
    await sender.drain()
    steward = await actor_for(db, STEWARD_XIUSHAN)
    notice = await reach.access_steward_notice(db, actor=steward, notice_id=notice_id)

    # The counts: everyone once, whatever her number of flats, by how she was reached
    counts = await reach.reach_counts(db, notice=notice)
    assert (counts.reached, counts.unreached) == (2, len(people) - 2)
    assert counts.by_channel == {"push": 1, "wechat": 1}

    # Those not reached, a page of 2 at a time: each of them, building after building, flats in order, no one
    # twice in a building, and the one with no flat on record last
    pages = await every_page(db, steward, notice, reached=False)
    rows = [row for page in pages for row in page.rows]
    assert {row.person.id for row in rows} == set(people) - {roles["push"], roles["wechat"]}
    listed = [(row.building, row.person.id) for row in rows]
    assert len(listed) == len(set(listed))
    groups = [row.building for row in rows]
    assert groups[-1] is None and [row.person.id for row in rows if row.building is None] == [unhoused]
    assert all(g is not None for g in groups[:-1]) and len(set(groups[:-1])) >= 2, groups
    # each building is one run, not scattered across pages
    runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
    assert len(runs) == len(set(runs)), runs
    assert all(row.reached_by is None for row in rows)
    assert all(row.homes and row.homes[0].startswith(row.building) for row in rows if row.building)
    # and each building's count is how many its own pages list
    buildings = await reach.unreached_by_building(db, notice=notice)
    assert [b.building for b in buildings] == runs
    # as a steward counts them: 2号楼 before 10号楼
    named = [b.building for b in buildings if b.building]
    assert named == sorted(named, key=lambda name: (len(name), name)) and "10号楼" in named
    for b in buildings:
        only = await every_page(db, steward, notice, reached=False, building=b.building or "")
        in_it = [row for page in only for row in page.rows]
        assert len(in_it) == b.unreached and {row.building for row in in_it} == {b.building}

    # Going back from the last page gives the page before it, as it was
    if len(pages) >= 2:
        back = await reach.reach_page(
            db, actor=steward, notice=notice, reached=False, first=2, before=pages[-1].start_cursor
        )
        assert [r.person.id for r in back.rows] == [r.person.id for r in pages[-2].rows]
        assert back.has_next and back.has_previous == (len(pages) > 2)

    # Those reached: only on asking, with how
    reached_rows = [row for page in await every_page(db, steward, notice, reached=True) for row in page.rows]
    assert {(row.person.id, row.reached_by) for row in reached_rows} == {
        (roles["push"], "push"),
        (roles["wechat"], "wechat"),
    }

    # And calling the rest still calls everyone not reached
    queued = await reach.do_call_unreached(db, actor=steward, notice_id=notice_id)
    assert queued == len(people) - 2


async def test_a_reach_page_costs_the_same_statements_for_a_page_of_many_as_of_few(app, db):  # noqa: ANN001
    from sqlalchemy import event

    await setup_community(db)
    notice_id, people = await emergency(db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    notice = await reach.access_steward_notice(db, actor=steward, notice_id=notice_id)
    assert len(people) >= 6
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        statements.append(statement)

    engine = db.bind.sync_engine if hasattr(db.bind, "sync_engine") else db.bind
    costs = {}
    for first in (1, len(people) - 1):
        await db.exec(delete(AuditEvent))  # each page's audit lines are written, not found already written
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = await reach.reach_page(db, actor=steward, notice=notice, reached=False, first=first)
            await reach.reach_counts(db, notice=notice)
            await reach.unreached_by_building(db, notice=notice)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(page.rows) == first  # nobody is reached yet: the page is full
        costs[first] = len(
            [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]
        )
    # A page of one and a page of everyone cost the same: no statement per person
    assert costs[1] == costs[len(people) - 1] <= 8, costs


async def test_a_bad_page_argument_is_refused_in_words_and_changes_nothing(db):  # noqa: ANN001
    await setup_community(db)
    notice_id, _ = await emergency(db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    notice = await reach.access_steward_notice(db, actor=steward, notice_id=notice_id)
    good = (await reach.reach_page(db, actor=steward, notice=notice, reached=False, first=1)).end_cursor
    before = (await db.exec(select(func.count()).select_from(AuditEvent))).one()
    for arguments, field in (
        ({"first": 0}, "first"),
        ({"first": -5}, "first"),
        ({"first": 101}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "cjpbMSwyXQ"}, "after"),  # "r:[1,2]": not a place in the list
        ({"before": "x" * 40}, "before"),
        ({"after": good, "before": good}, "before"),
        ({"building": "楼" * 101}, "building"),
    ):
        with pytest.raises(LaoyouError) as refused:
            await reach.reach_page(db, actor=steward, notice=notice, reached=False, **arguments)
        assert refused.value.field == field, arguments
    # Nothing was read, so nothing was logged as read
    assert (await db.exec(select(func.count()).select_from(AuditEvent))).one() == before
