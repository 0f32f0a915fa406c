"""Calls: the steward call log, and audio and video calls (WebRTC signalling) between residents and
staff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.core import i18n, jobs
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.time import utcnow
from laoyou.estates.models import Community
from laoyou.support.models import Call, CallSignal, CallStatus, Conversation, MessageKind, PhoneCallLog
from laoyou.support.service.chat import access_conversation, append_message, open_conversation
from laoyou.support.service.common import (
    _,
    agent_district_ids,
    announce_district,
    call_channel,
    district_channels,
    household_place,
    is_agent_for,
    is_staff_side,
    on_duty_stewards,
    person_channel,
    person_language,
)

MAX_SIGNAL = 20_000


async def do_log_steward_call(session: AsyncSession, *, actor: Actor, household_id: int) -> PhoneCallLog:
    """Record that a resident pressed "call my steward"; the log keeps the number that was dialled."""
    actor.require_login()
    if household_id not in actor.household_ids:
        raise NotFound()
    household, community, _address = await household_place(session, household_id)
    stewards = await on_duty_stewards(session, community)
    phone = stewards[0].phone if stewards else community.on_duty_phone
    log = PhoneCallLog(
        person_id=actor.person_id,
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        phone=phone,
    )
    session.add(log)
    await session.flush()
    return log


# --- audio and video calls ----------------------------------------------------------------------------


async def do_start_call(
    session: AsyncSession,
    *,
    actor: Actor,
    video: bool,
    conversation_id: int | None = None,
    household_id: int | None = None,
    to_steward: bool = False,
) -> Call:
    """A resident calls customer service (any agent of the district) or their steward; staff call the resident."""
    actor.require_login()
    if conversation_id is not None:
        conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
    else:
        conversation = await open_conversation(session, actor=actor, household_id=household_id)
    if is_staff_side(actor, conversation):
        callee_id: int | None = conversation.resident_id
    elif to_steward:
        community = await session.get(Community, conversation.community_id)
        stewards = await on_duty_stewards(session, community)
        if not stewards:
            raise LaoyouError(ErrorCode.NOT_ALLOWED, "No steward can take a call for this community.")
        callee_id = stewards[0].id
    else:
        callee_id = None
    call = Call(
        conversation_id=conversation.id,
        community_id=conversation.community_id,
        district_id=conversation.district_id,
        caller_id=actor.person_id,
        callee_id=callee_id,
        video=video,
    )
    session.add(call)
    await session.flush()
    _announce_ring(session, call)
    return call


def _announce_ring(session: AsyncSession, call: Call) -> None:
    announce(session, call_channel(call.id), {"call": call.id})
    if call.callee_id is None:
        announce_district(session, call.district_id, {"call": call.id})
    else:
        announce(session, person_channel(call.callee_id), {"call": call.id})


def may_answer(actor: Actor, call: Call) -> bool:
    return call.callee_id == actor.person_id or (
        call.callee_id is None and is_agent_for(actor, call.district_id)
    )


async def access_call(session: AsyncSession, *, actor: Actor, call_id: int) -> Call:
    """The caller, the callee, and (while it rings for "customer service") the district's agents."""
    actor.require_login()
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound()
    if call.caller_id == actor.person_id or may_answer(actor, call):
        return call
    raise NotFound()


async def do_answer_call(session: AsyncSession, *, actor: Actor, call_id: int) -> Call:
    call = await access_call(session, actor=actor, call_id=call_id)
    if not may_answer(actor, call):
        raise PermissionDenied()
    if call.status != CallStatus.ringing.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This call is no longer ringing.")
    # Guarded: of two agents answering at once, one wins.
    won = await session.exec(
        update(Call)
        .where(Call.id == call.id, Call.status == CallStatus.ringing.value)
        .values(status=CallStatus.connected.value, callee_id=actor.person_id, answered_at=utcnow())
    )
    if (won.rowcount or 0) != 1:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This call is no longer ringing.")
    await session.refresh(call)
    _announce_ring(session, call)
    if call.callee_id is not None:
        announce_district(session, call.district_id, {"call": call.id})
    return call


SIGNAL_KINDS = ("offer", "answer", "ice")


async def do_send_signal(
    session: AsyncSession, *, actor: Actor, call_id: int, kind: str, payload: str
) -> CallSignal:
    """Pass an SDP offer or answer, or an ICE candidate, to the other side of a call."""
    call = await access_call(session, actor=actor, call_id=call_id)
    if actor.person_id not in (call.caller_id, call.callee_id):
        raise PermissionDenied()
    if not is_live(call):
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This call has ended.")
    if kind not in SIGNAL_KINDS:
        raise LaoyouError(ErrorCode.INVALID, "Unknown signal.", field="kind")
    if len(payload or "") > MAX_SIGNAL:
        raise LaoyouError(ErrorCode.INVALID, "The signal is too large.", field="payload")
    try:
        json.loads(payload)
    except (TypeError, ValueError):
        raise LaoyouError(ErrorCode.INVALID, "The signal is not JSON.", field="payload") from None
    signal = CallSignal(
        call_id=call.id,
        community_id=call.community_id,
        district_id=call.district_id,
        sender_id=actor.person_id,
        kind=kind,
        payload=payload,
    )
    session.add(signal)
    await session.flush()
    announce(session, call_channel(call.id), {"signal": signal.id})
    return signal


async def do_hang_up(session: AsyncSession, *, actor: Actor, call_id: int) -> Call:
    """End a call. Unanswered, it becomes a missed call: a chat message and a notification."""
    call = await access_call(session, actor=actor, call_id=call_id)
    if not is_live(call):
        return call
    await _end_call(session, call, by_person_id=actor.person_id)
    return call


# A call nobody answers rings this long. The caller's page hangs up when it is left (call.js), but a phone
# that dies or loses its signal says nothing: then the call is ended as missed after this (do_end_unanswered_calls).
RING_TIMEOUT = timedelta(seconds=90)


async def do_end_unanswered_calls(session: AsyncSession, *, now: datetime | None = None) -> int:
    """End as missed every call still ringing after RING_TIMEOUT, as if its caller had hung up, so that it stops
    ringing for the staff and is told as a missed call. Claimed one at a time (a guarded UPDATE), so two workers
    never end one call twice."""
    now = now or utcnow()
    ringing = Call.status == CallStatus.ringing.value
    stale = list(
        await session.exec(
            jobs.due(
                select(Call.id).where(ringing, col(Call.created_at) < now - RING_TIMEOUT).order_by(Call.id)
            )
        )
    )
    ended = 0
    for call_id in stale:
        if not await jobs.claim(session, Call, [call_id], ringing, status=CallStatus.missed.value):
            continue
        call = await session.get(Call, call_id)
        await session.refresh(call)
        await _end_call(session, call, by_person_id=call.caller_id, status=CallStatus.missed)
        ended += 1
    return ended


async def _end_call(
    session: AsyncSession, call: Call, *, by_person_id: int, status: CallStatus | None = None
) -> None:
    """End a live call as `by_person_id` did; unanswered and ended by its caller, it is a missed call: a chat
    message and a notification for whom it rang."""
    if status is None:
        if call.status == CallStatus.ringing.value:
            status = CallStatus.missed if by_person_id == call.caller_id else CallStatus.declined
        else:
            status = CallStatus.ended
    call.status = status.value
    call.ended_at, call.ended_by_id = utcnow(), by_person_id
    session.add(call)
    session.add(
        CallSignal(
            call_id=call.id,
            community_id=call.community_id,
            district_id=call.district_id,
            sender_id=by_person_id,
            kind="hangup",
            payload="{}",
        )
    )
    await session.flush()
    if call.status == CallStatus.missed.value:
        conversation = await session.get(Conversation, call.conversation_id)
        caller = await session.get(Person, call.caller_id)
        language = await person_language(session, conversation.resident_id)
        msgid = _("Missed video call from %(name)s") if call.video else _("Missed voice call from %(name)s")
        from_staff = caller.id != conversation.resident_id
        await append_message(
            session,
            conversation,
            kind=MessageKind.missed_call,
            body=i18n.gettext(msgid, language, name=caller.name),
            msgid=msgid,
            params={"name": caller.name},
            sender_id=caller.id,
            from_staff=from_staff,
        )
        if not from_staff and conversation.waiting_since is None:
            conversation.waiting_since = utcnow()
            session.add(conversation)
        targets = (
            [call.callee_id]
            if call.callee_id
            else ([conversation.assignee_id] if conversation.assignee_id else [])
        )
        for person_id in targets:
            target_language = await person_language(session, person_id)
            await accounts.do_notify(
                session,
                person_id=person_id,
                kind="missed_call",
                title=i18n.gettext("Missed call from %(name)s", target_language, name=caller.name),
                link="/support"
                if person_id == conversation.resident_id
                else f"/staff/support/{conversation.id}",
            )
        announce_district(session, call.district_id, {"conversation": conversation.id})
    _announce_ring(session, call)


async def list_signals(
    session: AsyncSession, *, call: Call, after_id: int = 0, exclude_sender: int | None = None
) -> list[CallSignal]:
    query = (
        select(CallSignal)
        .where(CallSignal.call_id == call.id, CallSignal.id > after_id)
        .order_by(CallSignal.id)
    )
    if exclude_sender is not None:
        query = query.where(CallSignal.sender_id != exclude_sender)
    return list(await session.exec(query.limit(200)))


def is_live(call: Call) -> bool:
    """Ringing or connected: signals still pass; anything else has ended."""
    return call.status in (CallStatus.ringing.value, CallStatus.connected.value)


@dataclass
class SignalsSince:
    call: Call
    signals: list[CallSignal]  # the other side's
    cursor: int  # the last signal read, the viewer's own included: the next read starts after it


async def signals_since(session: AsyncSession, *, actor: Actor, call_id: int, after_id: int) -> SignalsSince:
    """A call as one of its sides sees it: its state and the other side's signals after a cursor."""
    call = await access_call(session, actor=actor, call_id=call_id)
    everything = await list_signals(session, call=call, after_id=after_id)
    return SignalsSince(
        call,
        [s for s in everything if s.sender_id != actor.person_id],
        everything[-1].id if everything else after_id,
    )


async def ringing_calls(session: AsyncSession, *, actor: Actor) -> list[Call]:
    """Calls ringing for the viewer: to them, or to customer service in a district they answer for."""
    actor.require_login()
    query = select(Call).where(Call.status == CallStatus.ringing.value, Call.caller_id != actor.person_id)
    districts = agent_district_ids(actor)
    mine = Call.callee_id == actor.person_id
    if districts is None:
        query = query.where(mine | col(Call.callee_id).is_(None))
    elif districts:
        query = query.where(mine | (col(Call.callee_id).is_(None) & col(Call.district_id).in_(districts)))
    else:
        query = query.where(mine)
    return list(await session.exec(query.order_by(Call.id).limit(20)))


def ring_channels(actor: Actor) -> list[str]:
    """What to listen to for calls ringing for the actor: to them, and to customer service in their districts."""
    return [person_channel(actor.person_id), *district_channels(actor)]
