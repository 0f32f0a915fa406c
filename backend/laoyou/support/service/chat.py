"""Conversations and messages: who may see and write which conversation, the server order of messages,
around-the-clock answers (agents' hours and presence, the FAQ, emergencies), claim, transfer, close, rate,
work orders from a chat, and the figures.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.phone import national
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, local, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, Household
from laoyou.media import service as media
from laoyou.support import urgency
from laoyou.support.models import (
    AgentStatus,
    Conversation,
    ConversationStatus,
    FaqEntry,
    Message,
    MessageKind,
)
from laoyou.support.service.common import (
    _,
    agent_district_ids,
    announce_district,
    check_client_id,
    conversation_channel,
    household_place,
    is_agent_for,
    is_staff_side,
    person_channel,
    person_language,
)
from laoyou.support.service.faq import match_faq

MAX_TEXT = 2000
# Who the service's own messages are from, as each reader sees it.
SERVICE_SENDER = _("Laoyou · system")
SEEN_RECENTLY = timedelta(minutes=2)  # the resident's app marked messages received this recently: it is open
# What the service says, once per wait, when nobody is on duty.
AWAY_NOTES = (
    _("Nobody is on duty right now. A person will reply as soon as possible."),
    _("Nobody is on duty right now. A person will reply from %(time)s."),
)

if TYPE_CHECKING:
    from laoyou.tickets.models import WorkOrder


async def access_conversation(session: AsyncSession, *, actor: Actor, conversation_id: int) -> Conversation:
    """The resident who asked, the district's agents, and the person it was handed to; nobody else."""
    actor.require_login()
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound()
    if conversation.resident_id == actor.person_id:
        return conversation
    if conversation.assignee_id == actor.person_id or is_agent_for(actor, conversation.district_id):
        return conversation
    raise NotFound()


async def _asked_household(session: AsyncSession, actor: Actor, household_id: int | None) -> Household:
    """The household someone asks about: the one named, which must be one they live in or follow as family;
    unnamed, their own home first, else the first home they follow."""
    actor.require_login()
    mine = actor.household_ids
    if household_id is None:
        if not mine:
            raise LaoyouError(ErrorCode.NOT_ALLOWED, "Your number is not linked to a home yet.")
        household_id = min(actor.resident_household_ids or mine)
    if household_id not in mine:
        raise NotFound()
    household = await session.get(Household, household_id)
    if household is None:
        raise NotFound()
    return household


async def current_conversation(
    session: AsyncSession, *, actor: Actor, household_id: int | None = None
) -> Conversation | None:
    """The asker's open conversation about a household, if any."""
    household = await _asked_household(session, actor, household_id)
    return (
        await session.exec(
            select(Conversation)
            .where(
                Conversation.resident_id == actor.person_id,
                Conversation.household_id == household.id,
                Conversation.status != ConversationStatus.closed.value,
            )
            .order_by(col(Conversation.id).desc())
            .limit(1)
        )
    ).first()


async def open_conversation(
    session: AsyncSession, *, actor: Actor, household_id: int | None = None
) -> Conversation:
    found = await current_conversation(session, actor=actor, household_id=household_id)
    if found is not None:
        return found
    household = await _asked_household(session, actor, household_id)
    conversation = Conversation(
        community_id=household.community_id,
        district_id=household.district_id,
        household_id=household.id,
        resident_id=actor.person_id,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def list_conversations(
    session: AsyncSession,
    *,
    actor: Actor,
    first: int,
    after: int | None,
    mine_only: bool = False,
    status: str | None = None,
) -> list[Conversation]:
    """A resident's own conversations; staff see their districts' and those handed to them. Newest first."""
    actor.require_login()
    query = select(Conversation)
    districts = agent_district_ids(actor)
    if mine_only or (not actor.is_staff):
        query = query.where(Conversation.resident_id == actor.person_id)
    elif districts is not None:
        query = query.where(
            col(Conversation.district_id).in_(districts) | (Conversation.assignee_id == actor.person_id)
        )
    if status:
        query = query.where(Conversation.status == status)
    if after is not None:
        query = query.where(Conversation.id < after)
    return list(await session.exec(query.order_by(col(Conversation.id).desc()).limit(first)))


async def support_queue(session: AsyncSession, *, actor: Actor, limit: int = 100) -> list[Conversation]:
    """Waiting and active conversations for the actor's districts (and those handed to them), urgent first,
    then the longest waiting."""
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    districts = agent_district_ids(actor)
    query = select(Conversation).where(Conversation.status != ConversationStatus.closed.value)
    if districts is not None:
        query = query.where(
            col(Conversation.district_id).in_(districts) | (Conversation.assignee_id == actor.person_id)
        )
    query = query.order_by(
        col(Conversation.urgent).desc(),
        col(Conversation.waiting_since).is_(None),
        col(Conversation.waiting_since),
        col(Conversation.last_message_at).desc(),
    )
    return list(await session.exec(query.limit(limit)))


async def list_messages(
    session: AsyncSession, *, conversation: Conversation, after_seq: int = 0, first: int = 100
) -> list[Message]:
    """Messages in server order after a cursor; the caller has already been given the conversation."""
    rows = await session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(first)
    )
    return list(rows)


async def latest_messages(
    session: AsyncSession, *, conversation: Conversation, last: int = 50
) -> list[Message]:
    rows = await session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(col(Message.seq).desc())
        .limit(last)
    )
    return list(reversed(list(rows)))


# --- sending ------------------------------------------------------------------------------------------


@dataclass
class Sent:
    message: Message
    conversation: Conversation
    service_replies: list[Message] = field(default_factory=list)


async def append_message(
    session: AsyncSession,
    conversation: Conversation,
    *,
    kind: MessageKind,
    body: str = "",
    sender_id: int | None = None,
    from_staff: bool = False,
    media_id: int | None = None,
    client_id: str | None = None,
    msgid: str | None = None,
    params: dict[str, str] | None = None,
) -> Message:
    """Store a message with the next seq. The guarded increment serialises concurrent senders on the row, and
    its RETURNING brings the whole row back into `conversation` (as a refresh would, in the same statement)."""
    seq = (
        (
            await session.exec(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(last_seq=Conversation.last_seq + 1, last_message_at=utcnow())
                .returning(Conversation)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        )
        .scalar_one()
        .last_seq
    )  # the same object as `conversation` (the session's identity map)
    message = Message(
        conversation_id=conversation.id,
        community_id=conversation.community_id,
        district_id=conversation.district_id,
        seq=seq,
        sender_id=sender_id,
        from_staff=from_staff,
        kind=kind.value,
        body=body,
        msgid=msgid,
        params=json.dumps(params or {}, ensure_ascii=False),
        media_id=media_id,
        client_id=client_id,
    )
    session.add(message)
    await session.flush()
    announce(session, conversation_channel(conversation.id), {"seq": seq})
    return message


async def do_send_message(
    session: AsyncSession,
    *,
    actor: Actor,
    client_id: str,
    body: str = "",
    media_id: int | None = None,
    conversation_id: int | None = None,
    household_id: int | None = None,
) -> Sent:
    """Store a message, then (for a resident) answer at once when nobody is online, or, when it looks like an
    emergency, page the agents and offer SOS and calls. A repeated client id returns the first message."""
    actor.require_login()
    client_id = check_client_id(client_id)
    check_text(body, field="body")
    existing = (
        await session.exec(
            select(Message).where(Message.sender_id == actor.person_id, Message.client_id == client_id)
        )
    ).first()
    if existing is not None:
        conversation = await access_conversation(
            session, actor=actor, conversation_id=existing.conversation_id
        )
        return Sent(existing, conversation)
    if conversation_id is not None:
        conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
        if conversation.status == ConversationStatus.closed.value:
            if is_staff_side(actor, conversation):
                raise LaoyouError(ErrorCode.NOT_ALLOWED, "This conversation has ended.")
            conversation = await open_conversation(
                session, actor=actor, household_id=conversation.household_id
            )
    else:
        conversation = await open_conversation(session, actor=actor, household_id=household_id)
    staff = is_staff_side(actor, conversation)
    body = (body or "").strip()
    if len(body) > MAX_TEXT:
        raise LaoyouError(
            ErrorCode.INVALID, "A message has at most %(max)s characters.", field="body", max=MAX_TEXT
        )
    kind = MessageKind.text
    if media_id is not None:
        attached = await media.access_media(session, actor=actor, media_id=media_id)
        if attached.uploaded_by_id != actor.person_id:
            raise NotFound()
        kind = {"audio": MessageKind.voice, "image": MessageKind.photo}.get(attached.kind, MessageKind.photo)
    elif not body:
        raise LaoyouError(ErrorCode.INVALID, "Please write something first.", field="body")
    # A staff reply is also a notification unless the resident's app marked messages received lately. Its
    # language is read before the first write: SQLite's write lock is taken there and held until commit.
    seen = conversation_seen_at(conversation)
    notify_in = (
        await person_language(session, conversation.resident_id)
        if staff and (seen is None or utcnow() - seen > SEEN_RECENTLY)
        else None
    )
    message = await append_message(
        session,
        conversation,
        kind=kind,
        body=body,
        sender_id=actor.person_id,
        from_staff=staff,
        media_id=media_id,
        client_id=client_id,
    )
    sent = Sent(message, conversation)
    now = utcnow()
    if staff:
        if conversation.status == ConversationStatus.waiting.value or conversation.assignee_id is None:
            conversation.assignee_id = actor.person_id
        conversation.status = ConversationStatus.active.value
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            conversation.first_responder_id = actor.person_id
        conversation.waiting_since = None
        if notify_in is not None:
            await accounts.do_notify(
                session,
                person_id=conversation.resident_id,
                kind="support_reply",
                title=i18n.gettext("Customer service replied to you", notify_in),
                body=body[:200] if body else i18n.gettext("A voice note or photo", notify_in),
                link="/support",
            )
    else:
        if conversation.waiting_since is None:
            conversation.waiting_since = now
        if urgency.emergency_in(body) is not None:
            sent.service_replies = await do_flag_urgent(session, conversation=conversation, text=body)
        elif not await agents_on_shift(session, district_id=conversation.district_id):
            sent.service_replies = await _answer_while_away(session, conversation, body)
    session.add(conversation)
    await session.flush()
    announce_district(session, conversation.district_id, {"conversation": conversation.id})
    if conversation.assignee_id and conversation.assignee_id != actor.person_id:
        announce(session, person_channel(conversation.assignee_id), {"conversation": conversation.id})
    return sent


def conversation_seen_at(conversation: Conversation) -> datetime | None:
    return as_utc(conversation.resident_seen_at) if conversation.resident_seen_at else None


async def _answer_while_away(session: AsyncSession, conversation: Conversation, text: str) -> list[Message]:
    """Nobody is online: the FAQ's answer if one fits, and (once per wait) when a person will reply."""
    replies: list[Message] = []
    entries = list(
        await session.exec(select(FaqEntry).where(FaqEntry.district_id == conversation.district_id))
    )
    best = match_faq(entries, text)
    if best is not None:
        replies.append(
            await _service_says(
                session,
                conversation,
                MessageKind.system,
                _("Common answer: %(question)s\n%(answer)s"),
                question=best.question,
                answer=best.answer,
            )
        )
    told = (
        await session.exec(
            select(Message.id).where(
                Message.conversation_id == conversation.id,
                Message.kind == MessageKind.system.value,
                col(Message.msgid).in_(AWAY_NOTES) | Message.body.startswith("⏰"),  # type: ignore[union-attr]
                Message.seq > (await _last_staff_seq(session, conversation.id)),
            )
        )
    ).first()
    if told is None:
        when = await next_reply_time(session, district_id=conversation.district_id)
        if when is None:
            note = await _service_says(session, conversation, MessageKind.system, AWAY_NOTES[0])
        else:
            time = local(when).strftime("%m-%d %H:%M")
            note = await _service_says(session, conversation, MessageKind.system, AWAY_NOTES[1], time=time)
        replies.append(note)
    return replies


async def _last_staff_seq(session: AsyncSession, conversation_id: int) -> int:
    return (
        await session.scalar(
            select(func.max(Message.seq)).where(
                Message.conversation_id == conversation_id, col(Message.from_staff)
            )
        )
    ) or 0


# --- emergencies: urgent for the agents, one tap away for the resident ---------------------------------


async def do_flag_urgent(session: AsyncSession, *, conversation: Conversation, text: str) -> list[Message]:
    """A resident's message looks like an emergency: mark the conversation urgent, page its agents (the first
    time), and offer the resident one-tap SOS and calls. Words alone never raise an SOS nor alarm the family:
    only the resident's own SOS does; and nobody is said to be coming before someone is."""
    if not conversation.urgent:
        conversation.urgent = True
        await _page_agents(session, conversation, text)
    offer = _(
        "If anyone is in danger, do not wait for a reply here: call 119 for fire or gas, 120 for an ambulance, "
        "or press SOS to alert your steward and family. Customer service has been told your message is urgent."
    )
    return [await _service_says(session, conversation, MessageKind.emergency, offer)]


async def _page_agents(session: AsyncSession, conversation: Conversation, text: str) -> None:
    """Notify the agents on shift in the conversation's district (all its agents when none is) and whoever it
    was handed to; the district's queues hear it through the conversation's event."""
    on_shift = [s.person_id for s in await agents_on_shift(session, district_id=conversation.district_id)]
    agents = on_shift or list(
        await session.exec(
            select(RoleGrant.person_id).where(
                RoleGrant.role == Role.agent.value,
                RoleGrant.district_id == conversation.district_id,
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    )
    if conversation.assignee_id:
        agents.append(conversation.assignee_id)
    resident = await session.get(Person, conversation.resident_id)
    name = resident.name or national(resident.phone)
    address = (
        (await household_place(session, conversation.household_id))[2] if conversation.household_id else ""
    )
    for person_id in dict.fromkeys(agents):
        language = await person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="support_urgent",
            title=i18n.gettext("Urgent: %(name)s may need help now", language, name=name),
            body=" · ".join(part for part in (address, text[:200]) if part),
            link=f"/staff/support/{conversation.id}",
        )


# --- agents: hours and online state -------------------------------------------------------------------


def parse_hhmm(value: str, field_name: str) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", (value or "").strip())
    if (
        not match
        or int(match.group(1)) > 24
        or int(match.group(2)) > 59
        or (int(match.group(1)) == 24 and int(match.group(2)))
    ):
        raise LaoyouError(ErrorCode.INVALID, "Please write the time as 08:30.", field=field_name)
    return int(match.group(1)) * 60 + int(match.group(2))


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def on_shift(status: AgentStatus, now: datetime) -> bool:
    """Online and within their hours (hours may run past midnight)."""
    if not status.online:
        return False
    minute = local(now).hour * 60 + local(now).minute
    start, end = status.hours_start, status.hours_end
    if start == end:
        return True  # around the clock
    return start <= minute < end if start < end else (minute >= start or minute < end)


async def agent_status(session: AsyncSession, *, actor: Actor) -> AgentStatus | None:
    return (await session.exec(select(AgentStatus).where(AgentStatus.person_id == actor.person_id))).first()


async def do_set_agent_status(
    session: AsyncSession,
    *,
    actor: Actor,
    online: bool | None = None,
    hours_start: str | None = None,
    hours_end: str | None = None,
) -> AgentStatus:
    actor.require_login()
    grants = actor.grants_of(Role.agent)
    if not grants:
        raise PermissionDenied()
    status = await agent_status(session, actor=actor) or AgentStatus(
        person_id=actor.person_id, district_id=grants[0].district_id
    )
    if hours_start is not None:
        status.hours_start = parse_hhmm(hours_start, "hoursStart")
    if hours_end is not None:
        status.hours_end = parse_hhmm(hours_end, "hoursEnd")
    if online is not None:
        status.online = online
    status.updated_at = utcnow()
    session.add(status)
    await session.flush()
    announce_district(session, status.district_id, {"agents": True})
    return status


async def agents_on_shift(session: AsyncSession, *, district_id: int) -> list[AgentStatus]:
    now = utcnow()
    rows = await session.exec(
        select(AgentStatus)
        .join(
            RoleGrant, (RoleGrant.person_id == AgentStatus.person_id) & (RoleGrant.role == Role.agent.value)
        )
        .where(
            AgentStatus.district_id == district_id,
            col(AgentStatus.online),
            col(RoleGrant.revoked_at).is_(None),
            RoleGrant.district_id == district_id,
        )
    )
    return [s for s in rows if on_shift(s, now)]


async def next_reply_time(session: AsyncSession, *, district_id: int) -> datetime | None:
    """The next start of any agent's hours in the district, as a UTC time; None when nobody has hours."""
    statuses = list(await session.exec(select(AgentStatus).where(AgentStatus.district_id == district_id)))
    if not statuses:
        return None
    now_local = local(utcnow())
    best = None
    for status in statuses:
        start = now_local.replace(
            hour=status.hours_start // 60 % 24, minute=status.hours_start % 60, second=0, microsecond=0
        )
        if start <= now_local:
            start += timedelta(days=1)
        best = start if best is None or start < best else best
    return as_utc(best) if best else None


# --- claim, transfer, close, rate ---------------------------------------------------------------------


async def _system_note(
    session: AsyncSession, conversation: Conversation, msgid: str, **params: str
) -> Message:
    return await _service_says(session, conversation, MessageKind.system, msgid, **params)


async def _service_says(
    session: AsyncSession, conversation: Conversation, kind: MessageKind, msgid: str, **params: str
) -> Message:
    """A message of the service's own, kept as its msgid (each reader sees it in their language)."""
    language = await person_language(session, conversation.resident_id)
    return await append_message(
        session,
        conversation,
        kind=kind,
        body=i18n.gettext(msgid, language, **params),
        msgid=msgid,
        params=params,
    )


async def _access_as_staff(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
    if not is_staff_side(actor, conversation):
        raise PermissionDenied()
    return conversation


async def do_claim(session: AsyncSession, *, actor: Actor, conversation_id: int) -> Conversation:
    conversation = await _access_as_staff(session, actor, conversation_id)
    if conversation.status == ConversationStatus.closed.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This conversation has ended.")
    if conversation.assignee_id == actor.person_id:
        return conversation
    conversation.assignee_id = actor.person_id
    conversation.status = ConversationStatus.active.value
    session.add(conversation)
    await _system_note(session, conversation, _("%(name)s is answering you now."), name=actor.person.name)
    announce_district(session, conversation.district_id, {"conversation": conversation.id})
    return conversation


async def transfer_targets(
    session: AsyncSession, *, actor: Actor, conversation: Conversation
) -> list[tuple[Person, str]]:
    """Who a conversation may be handed to: the district's other agents and the community's stewards. Only
    the staff side hands a conversation on; the resident who asked is offered nobody."""
    if not is_staff_side(actor, conversation):
        return []
    agents = list(
        await session.exec(
            select(Person)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(
                RoleGrant.role == Role.agent.value,
                RoleGrant.district_id == conversation.district_id,
                col(RoleGrant.revoked_at).is_(None),
                col(Person.is_active),
            )
            .order_by(Person.id)
        )
    )
    community = await session.get(Community, conversation.community_id)
    stewards = (await estates.stewards_by_community(session, [community]))[community.id]
    result = [(p, "agent") for p in agents if p.id != actor.person_id]
    seen = {p.id for p, _ in result} | {actor.person_id}
    result += [(p, "steward") for p, _duty in stewards if p.id not in seen]
    return result


async def do_transfer(
    session: AsyncSession, *, actor: Actor, conversation_id: int, to_person_id: int
) -> Conversation:
    conversation = await _access_as_staff(session, actor, conversation_id)
    if conversation.status == ConversationStatus.closed.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This conversation has ended.")
    targets = {p.id: p for p, _ in await transfer_targets(session, actor=actor, conversation=conversation)}
    target = targets.get(to_person_id)
    if target is None:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose a colleague of this district.", field="toPersonId"
        )
    conversation.assignee_id = target.id
    conversation.status = ConversationStatus.active.value
    session.add(conversation)
    await _system_note(session, conversation, _("Your question was passed to %(name)s."), name=target.name)
    await accounts.do_notify(
        session,
        person_id=target.id,
        kind="support_transfer",
        title=i18n.gettext(
            "A resident's question was passed to you", await person_language(session, target.id)
        ),
        link=f"/staff/support/{conversation.id}",
    )
    announce_district(session, conversation.district_id, {"conversation": conversation.id})
    announce(session, person_channel(target.id), {"conversation": conversation.id})
    return conversation


async def do_close(session: AsyncSession, *, actor: Actor, conversation_id: int) -> Conversation:
    conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
    if conversation.status == ConversationStatus.closed.value:
        return conversation
    conversation.status = ConversationStatus.closed.value
    conversation.closed_at = utcnow()
    conversation.waiting_since = None
    session.add(conversation)
    await _system_note(
        session, conversation, _("This conversation has ended. How did we do? Please give us stars.")
    )
    announce_district(session, conversation.district_id, {"conversation": conversation.id})
    return conversation


async def do_rate(
    session: AsyncSession, *, actor: Actor, conversation_id: int, stars: int, comment: str = ""
) -> Conversation:
    conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
    if conversation.resident_id != actor.person_id:
        raise PermissionDenied()
    if conversation.status != ConversationStatus.closed.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "You can give stars once the conversation has ended.")
    if not 1 <= stars <= 5:
        raise LaoyouError(ErrorCode.INVALID, "Please give 1 to 5 stars.", field="stars")
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise LaoyouError(ErrorCode.INVALID, "A comment has at most 500 characters.", field="comment")
    check_text(comment, field="comment")
    conversation.rating, conversation.rating_comment = stars, comment
    session.add(conversation)
    await session.flush()
    announce(session, conversation_channel(conversation.id), {"rated": stars})
    return conversation


async def do_mark(
    session: AsyncSession, *, actor: Actor, conversation_id: int, seq: int, read: bool
) -> Conversation:
    """Delivered (the app received it) and read (the person saw it) marks, for the viewer's side."""
    conversation = await access_conversation(session, actor=actor, conversation_id=conversation_id)
    seq = max(0, min(seq, conversation.last_seq))
    prefix = "staff" if is_staff_side(actor, conversation) else "resident"
    changed = False
    for mark in ("delivered", "read") if read else ("delivered",):
        name = f"{prefix}_{mark}_seq"
        if getattr(conversation, name) < seq:
            setattr(conversation, name, seq)
            changed = True
    if prefix == "resident":
        conversation.resident_seen_at = utcnow()
    session.add(conversation)
    await session.flush()
    if changed:
        announce(session, conversation_channel(conversation.id), {"receipt": seq})
    return conversation


async def do_turn_into_work_order(
    session: AsyncSession,
    *,
    actor: Actor,
    conversation_id: int,
    category: str = "other",
    kind: str = "repair",
) -> tuple[Conversation, WorkOrder]:
    """Log a work order on the resident's behalf (source "chat") from what they wrote, link it to the
    conversation and tell the resident in the chat. Doing it again returns the same work order.
    Returns the conversation and the work order."""
    from laoyou.tickets import service as tickets  # noqa: PLC0415  (tickets imports nothing of support)

    conversation = await _access_as_staff(session, actor, conversation_id)
    if conversation.work_order_id:
        order = await tickets.access_work_order(session, actor=actor, order_id=conversation.work_order_id)
        return conversation, order
    written = [
        m.body
        for m in await list_messages(session, conversation=conversation, first=100)
        if not m.from_staff and m.kind == MessageKind.text.value and m.body
    ]
    description = "\n".join(written)[-tickets.MAX_TEXT :] or i18n.gettext(
        "From a customer-service chat", await person_language(session, conversation.resident_id)
    )
    resident = await session.get(Person, conversation.resident_id)
    reported = await tickets.do_report(
        session,
        actor=actor,
        data=tickets.ReportInput(
            client_id=f"support-conversation-{conversation.id}",
            category=category,
            kind=kind,
            urgency="urgent" if conversation.urgent else "normal",
            household_id=conversation.household_id,
            community_id=conversation.community_id,
            description=description,
            source="chat",
            reporter_name=resident.name if resident else "",
            reporter_phone=resident.phone if resident else "",
        ),
    )
    order = reported.order
    conversation.work_order_id = order.id
    session.add(conversation)
    await _system_note(
        session, conversation, _("A work order was opened for you: number %(number)s."), number=order.id
    )
    announce_district(session, conversation.district_id, {"conversation": conversation.id})
    return conversation, order


# An agent glances at a household's open bills and work orders beside the chat: at most this many of each.
HOUSEHOLD_GLANCE = 50


async def household_open_bills(
    session: AsyncSession, *, actor: Actor, conversation: Conversation, first: int = 10
) -> list:
    """The unpaid bills of the conversation's household, as the billing service shows them to this actor."""
    from laoyou.billing import service as billing  # noqa: PLC0415

    if conversation.household_id is None or not is_staff_side(actor, conversation):
        return []
    page = await billing.list_household_bills(
        session,
        actor=actor,
        household_id=conversation.household_id,
        first=max(1, min(first, HOUSEHOLD_GLANCE)),
        after=None,
        unpaid_only=True,
    )
    return list(page.items)


async def household_open_work_orders(
    session: AsyncSession, *, actor: Actor, conversation: Conversation, first: int = 10
) -> list:
    """The household's open work orders, as the tickets service scopes them to this actor."""
    from laoyou.tickets import service as tickets  # noqa: PLC0415  (tickets imports nothing of support)

    if conversation.household_id is None or not is_staff_side(actor, conversation):
        return []
    return await tickets.household_open_orders(
        session,
        actor=actor,
        household_id=conversation.household_id,
        community_id=conversation.community_id,
        first=max(1, min(first, HOUSEHOLD_GLANCE)),
    )


# --- figures ------------------------------------------------------------------------------------------


@dataclass
class Figures:
    key: int | None
    label: str
    conversations: int = 0
    answered: int = 0
    closed: int = 0
    ratings: int = 0
    _response: float = 0.0
    _resolution: float = 0.0
    _stars: int = 0

    @property
    def first_response_seconds(self) -> int | None:
        return round(self._response / self.answered) if self.answered else None

    @property
    def resolution_seconds(self) -> int | None:
        return round(self._resolution / self.closed) if self.closed else None

    @property
    def satisfaction(self) -> float | None:
        return round(self._stars / self.ratings, 2) if self.ratings else None

    def add(self, conversation: Conversation) -> None:
        self.conversations += 1
        if conversation.first_response_at:
            self.answered += 1
            self._response += (
                as_utc(conversation.first_response_at) - as_utc(conversation.created_at)
            ).total_seconds()
        if conversation.closed_at:
            self.closed += 1
            self._resolution += (
                as_utc(conversation.closed_at) - as_utc(conversation.created_at)
            ).total_seconds()
        if conversation.rating:
            self.ratings += 1
            self._stars += conversation.rating


async def support_figures(
    session: AsyncSession, *, actor: Actor, days: int = 30
) -> tuple[list[Figures], list[Figures]]:
    """First-response time, resolution time and satisfaction per district and per agent, for staff."""
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    visible = await estates.visible_district_ids(session, actor)
    query = select(Conversation).where(Conversation.created_at >= utcnow() - timedelta(days=days))
    if visible is not None:
        query = query.where(col(Conversation.district_id).in_(visible))
    rows = list(await session.exec(query))
    from laoyou.estates.models import District

    district_ids = {c.district_id for c in rows}
    agent_ids = {c.first_responder_id for c in rows if c.first_responder_id}
    names = {
        d.id: d.name for d in await session.exec(select(District).where(col(District.id).in_(district_ids)))
    }
    people = {p.id: p.name for p in await session.exec(select(Person).where(col(Person.id).in_(agent_ids)))}
    by_district: dict[int, Figures] = {}
    by_agent: dict[int, Figures] = {}
    for conversation in rows:
        by_district.setdefault(
            conversation.district_id,
            Figures(conversation.district_id, names.get(conversation.district_id, "")),
        ).add(conversation)
        if conversation.first_responder_id:
            pid = conversation.first_responder_id
            by_agent.setdefault(pid, Figures(pid, people.get(pid, ""))).add(conversation)
    return sorted(by_district.values(), key=lambda f: f.key), sorted(by_agent.values(), key=lambda f: f.key)


async def check_media_access(session: AsyncSession, actor: Actor, media_file: object) -> None:
    """A photo or voice note sent in a conversation is seen only by those who may read the conversation."""
    message = (
        await session.exec(select(Message).where(Message.media_id == media_file.id).limit(1))  # type: ignore[attr-defined]
    ).first()
    if message is not None:
        await access_conversation(session, actor=actor, conversation_id=message.conversation_id)


if check_media_access not in media.ACCESS_GUARDS:
    media.ACCESS_GUARDS.append(check_media_access)


async def reply_times(
    session: AsyncSession, *, actor: Actor, community_ids: list[int], since: datetime, until: datetime
) -> list[tuple[int, datetime, float]]:
    """(community, when the resident wrote, minutes to the first reply by a person on the staff side) for
    each time a resident wrote in [since, until) after the last reply, in the communities the actor sees as
    staff; automatic answers are not replies, and a question not answered yet has no time."""
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    staff = await estates.staff_community_ids(session, actor)
    ids = [c for c in community_ids if staff is None or c in staff]
    if not ids:
        return []
    rows = await session.exec(
        select(
            Message.conversation_id,
            Message.community_id,
            Message.from_staff,
            Message.sender_id,
            Message.created_at,
        )
        .where(col(Message.community_id).in_(ids), Message.created_at >= since)
        .order_by(Message.conversation_id, Message.seq)
    )
    times: list[tuple[int, datetime, float]] = []
    waiting: dict[int, datetime] = {}
    for conversation_id, community_id, from_staff, sender_id, created_at in rows:
        if not from_staff:
            if sender_id is not None:
                waiting.setdefault(conversation_id, as_utc(created_at))
        elif sender_id is not None and conversation_id in waiting:
            asked = waiting.pop(conversation_id)
            if asked < until:
                times.append((community_id, asked, (as_utc(created_at) - asked).total_seconds() / 60))
    return times
