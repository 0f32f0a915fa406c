"""Demo reach in 秀山花园: residents who chose differently (one "call me", one with quiet hours, one linked to
WeChat), and this morning's water-cut notice, whose report shows people reached by push, WeChat, SMS and a
call, and some not reached yet, so the steward has someone to call."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Notification, Person, Role, RoleGrant
from laoyou.core.time import utcnow
from laoyou.estates.models import Community
from laoyou.notify import service as notify
from laoyou.notify.models import EmergencyKind
from laoyou.notify.reach import plan
from laoyou.notify.reach.models import (
    Channel,
    Reach,
    ReachChoice,
    ReachSend,
    ReachState,
    SendStatus,
    WechatLink,
)

STEWARD = "+8613800000011"
# A demo official account: its openid is made up, and the demo has no WeChat sender to use it.
DEMO_APPID = "wxdemo0000000000"


async def load_notify_demo(session: AsyncSession) -> None:
    community = (await session.exec(select(Community).where(Community.name == "秀山花园"))).one()
    residents = list(
        await session.exec(
            select(Person)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(
                RoleGrant.community_id == community.id,
                RoleGrant.role == Role.resident.value,
                col(Person.phone).startswith("+86139"),
                col(RoleGrant.revoked_at).is_(None),
            )
            .order_by(Person.id)
            .distinct()
        )
    )
    # The first few are the care demo's elderly residents: the choices go to the next three (a small demo may
    # have fewer).
    choices = (
        lambda person: ReachChoice(person_id=person.id, call_me=True),
        lambda person: ReachChoice(person_id=person.id, quiet_start=22 * 60, quiet_end=7 * 60),
        lambda person: WechatLink(person_id=person.id, appid=DEMO_APPID, openid=f"demo-openid-{person.id}"),
    )
    for person, make in zip(residents[5:8], choices, strict=False):
        session.add(make(person))
    await session.flush()
    await _morning_notice(session, community)


async def _morning_notice(session: AsyncSession, community: Community) -> None:
    """Sent as a steward sends one, then moved three hours back with how each climb went."""
    steward = (await session.exec(select(Person).where(Person.phone == STEWARD))).one()
    actor = Actor(person=steward, grants=await accounts.live_grants(session, steward.id))
    (notice,) = await notify.do_send_emergency(
        session,
        actor=actor,
        community_ids=[community.id],
        kind=EmergencyKind.water_cut.value,
        title="今天上午9点到11点停水",
        body="自来水公司抢修主管道，请提前接好用水。",
    )
    sent = utcnow() - timedelta(hours=3)
    notice.created_at = sent
    session.add(notice)
    await session.exec(
        update(Notification).where(Notification.link == f"/emergencies/{notice.id}").values(created_at=sent)
    )
    reaches = list(
        await session.exec(
            select(Reach).where(Reach.event_key == notify.emergency_event_key(notice.id)).order_by(Reach.id)
        )
    )
    # The first steps were planned (and SMS reserved) just now: the story below replaces them.
    await session.exec(delete(ReachSend).where(col(ReachSend.reach_id).in_([r.id for r in reaches])))
    for number, reach in enumerate(reaches):
        ladder = reach.channels
        story = _story(number, ladder)
        if ladder[0] is Channel.sms and all(c is not Channel.sms for c, _, _ in story["steps"]):
            # Her SMS was reserved when the notice was planned, and in this story it was never sent.
            await plan.release(
                session,
                channel=Channel.sms,
                person_id=reach.person_id,
                community_id=reach.community_id,
                when=utcnow(),
            )
        steps: list[ReachSend] = []
        for step, (channel, status, answered) in enumerate(story["steps"]):
            at = sent + timedelta(minutes=2 * step)
            if channel is Channel.voice and status is SendStatus.sent:
                await plan.reserve(
                    session,
                    channel=channel,
                    person_id=reach.person_id,
                    community_id=reach.community_id,
                    now=utcnow(),
                )
            steps.append(
                ReachSend(
                    reach_id=reach.id,
                    step=step,
                    channel=channel.value,
                    status=status.value,
                    next_attempt_at=at,
                    created_at=at,
                    sent_at=at if status is SendStatus.sent else None,
                    answered_at=at + timedelta(seconds=20) if answered else None,
                    attempts=1,
                )
            )
        session.add_all(steps)
        reach.ladder = ",".join(c.value for c, _, _ in story["steps"])
        reach.step = len(steps) - 1
        reach.created_at = sent
        reach.next_step_at = None
        opened = story["opened"]
        if opened:
            reach.state = ReachState.opened.value
            reach.opened_at = sent + timedelta(minutes=2 * reach.step + 1)
            reach.opened_via = opened
        else:
            reach.state = ReachState.exhausted.value
        session.add(reach)
    await session.flush()


def _story(number: int, ladder: list[Channel]) -> dict:
    """How one person's climb went: push opened at once, WeChat or SMS opened, a call answered and confirmed,
    or every step tried without reaching her (a call not answered, a number that failed)."""
    ok, failed = SendStatus.sent, SendStatus.failed
    if Channel.wechat in ladder:
        return {"steps": [(Channel.wechat, ok, False)], "opened": "wechat"}
    match number % 6:
        case 0:
            return {"steps": [(Channel.push, ok, False)], "opened": "push"}
        case 1 | 2:
            return {"steps": [(Channel.sms, ok, False)], "opened": "sms"}
        case 3:
            return {"steps": [(Channel.sms, ok, False), (Channel.voice, ok, True)], "opened": "voice"}
        case 4:
            return {"steps": [(Channel.sms, ok, False), (Channel.voice, ok, False)], "opened": None}
        case _:
            return {"steps": [(Channel.sms, ok, False), (Channel.voice, failed, False)], "opened": None}
