"""GraphQL for customer service: conversations and live chat, agents' hours, the FAQ, figures, SOS and calls."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from laoyou.billing.schema import Bill
from laoyou.core import i18n
from laoyou.core.errors import NotFound
from laoyou.core.phone import mask_phone, national
from laoyou.core.time import as_utc, utcnow
from laoyou.estates.schema import Community, Household
from laoyou.graphql.context import Info
from laoyou.graphql.errors import Error, mutation_boundary
from laoyou.graphql.live import Scoped, listen
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id
from laoyou.media.schema import MediaFile
from laoyou.support import feed, models
from laoyou.support import service as support
from laoyou.support.service.sos import do_cancel_sos
from laoyou.support.turn import turn_login, turn_urls
from laoyou.tickets import models as ticket_models
from laoyou.tickets.schema import WorkOrder, WorkOrderCategory, WorkOrderKind


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


@strawberry.type(description="A person as customer service shows them: name and a masked phone.")
class SupportPerson:
    id: strawberry.ID
    name: str
    masked_phone: str


async def _person(info: Info, person_id: int | None) -> SupportPerson | None:
    if person_id is None:
        return None
    row = await info.context.loaders.person_by_id.load(person_id)
    return (
        SupportPerson(id=encode_id(row.id), name=row.name, masked_phone=mask_phone(row.phone))
        if row
        else None
    )


@strawberry.enum(
    description="SOS: raise an SOS (raiseSos) for the conversation's household. CALL: dial its phone."
)
class ChatActionKind(Enum):
    SOS = "sos"
    CALL = "call"


@strawberry.type(description="One tap offered with the service's reply to an emergency.")
class ChatAction:
    kind: ChatActionKind
    label: str = strawberry.field(description="In the viewer's language.")
    phone: str | None = strawberry.field(description="The number a CALL dials.")
    href: str = strawberry.field(description="A tel: link for a CALL; the PWA's SOS page for SOS.")


async def _chat_actions(info: Info, row: models.Message) -> list[ChatAction]:
    loaders, language = info.context.loaders, info.context.language
    stewards = await loaders.stewards_by_community.load(row.community_id)  # the one on duty first
    community = await loaders.community_by_id.load(row.community_id)
    offered = support.help_actions(
        steward=stewards[0][0] if stewards else None, duty_phone=community.on_duty_phone if community else ""
    )
    return [
        ChatAction(
            kind=ChatActionKind(a.kind),
            label=i18n.gettext(a.label, language, **a.params),
            phone=a.phone or None,
            href=f"tel:{a.phone}" if a.phone else "/support/sos",
        )
        for a in offered
    ]


@strawberry.type(description="One chat message, in the conversation's server order (seq).")
class SupportMessage:
    row: strawberry.Private[models.Message]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def conversation_id(self) -> strawberry.ID:
        return encode_id(self.row.conversation_id)

    @strawberry.field(description="The server order within the conversation: 1, 2, 3…")
    def seq(self) -> int:
        return self.row.seq

    @strawberry.field(
        description="text, voice, photo, system (from the service itself), emergency (the service's "
        "reply to a message that looks like an emergency, with actions) or missed_call"
    )
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field(description="In the reader's language when the service itself wrote it.")
    def body(self, info: Info) -> str:
        if self.row.msgid:
            return i18n.gettext(self.row.msgid, info.context.language, **json.loads(self.row.params))
        return self.row.body

    @strawberry.field
    def from_staff(self) -> bool:
        return self.row.from_staff

    @strawberry.field(description="The id the sender's app made, so it can match its own sends.")
    def client_id(self) -> str | None:
        return self.row.client_id

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    async def sender(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.sender_id)

    @strawberry.field(
        description="Who said it, in the reader's language: the sender's name, or the service itself "
        "(老友管家 · 系统) for what it says (answers while nobody is on duty, notes, the emergency offer)."
    )
    async def sender_label(self, info: Info) -> str:
        if self.row.sender_id is None:
            return i18n.gettext(support.SERVICE_SENDER, info.context.language)
        row = await info.context.loaders.person_by_id.load(self.row.sender_id)
        return (row.name or mask_phone(row.phone)) if row else ""

    @strawberry.field
    async def media(self, info: Info) -> MediaFile | None:
        if self.row.media_id is None:
            return None
        row = await info.context.loaders.media_file_by_id.load(self.row.media_id)
        return MediaFile(row=row) if row else None

    @strawberry.field(
        description="One-tap SOS and calls offered with an emergency reply; empty for other messages."
    )
    async def actions(self, info: Info) -> list[ChatAction]:
        if self.row.kind != models.MessageKind.emergency.value:
            return []
        return await _chat_actions(info, self.row)


@strawberry.type(description="A resident's question to customer service, from first message until closed.")
class SupportConversation:
    row: strawberry.Private[models.Conversation]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="waiting, active or closed")
    def status(self) -> str:
        return self.row.status

    @strawberry.field
    def urgent(self) -> bool:
        return self.row.urgent

    @strawberry.field(description="The seq of the newest message.")
    def last_seq(self) -> int:
        return self.row.last_seq

    @strawberry.field
    def resident_delivered_seq(self) -> int:
        return self.row.resident_delivered_seq

    @strawberry.field
    def resident_read_seq(self) -> int:
        return self.row.resident_read_seq

    @strawberry.field
    def staff_delivered_seq(self) -> int:
        return self.row.staff_delivered_seq

    @strawberry.field
    def staff_read_seq(self) -> int:
        return self.row.staff_read_seq

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def last_message_at(self) -> datetime:
        return as_utc(self.row.last_message_at)

    @strawberry.field(description="Since when the resident has been waiting for a person, if they are.")
    def waiting_since(self) -> datetime | None:
        return _opt(self.row.waiting_since)

    @strawberry.field
    def waiting_minutes(self) -> int | None:
        if not self.row.waiting_since:
            return None
        return int((utcnow() - as_utc(self.row.waiting_since)).total_seconds() // 60)

    @strawberry.field
    def first_response_at(self) -> datetime | None:
        return _opt(self.row.first_response_at)

    @strawberry.field
    def closed_at(self) -> datetime | None:
        return _opt(self.row.closed_at)

    @strawberry.field
    def rating(self) -> int | None:
        return self.row.rating

    @strawberry.field
    def rating_comment(self) -> str:
        return self.row.rating_comment

    @strawberry.field
    def work_order_id(self) -> strawberry.ID | None:
        return encode_id(self.row.work_order_id)

    @strawberry.field(description="True when the viewer is the resident who asked.")
    def viewer_is_resident(self, info: Info) -> bool:
        return self.row.resident_id == info.context.actor.person_id

    @strawberry.field
    async def resident(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.resident_id)

    @strawberry.field(description="The agent or steward answering it.")
    async def assignee(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.assignee_id)

    @strawberry.field
    async def household(self, info: Info) -> Household | None:
        if self.row.household_id is None:
            return None
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field(description="Messages after a seq (the reconnect cursor), oldest first.")
    async def messages(self, info: Info, after_seq: int = 0, first: int = 100) -> list[SupportMessage]:
        first = max(1, min(first, info.context.settings.max_page_size))
        rows = await support.list_messages(
            info.context.session, conversation=self.row, after_seq=after_seq, first=first
        )
        return [SupportMessage(row=r) for r in rows]

    @strawberry.field(description="The newest messages, oldest first.")
    async def latest_messages(self, info: Info, last: int = 50) -> list[SupportMessage]:
        last = max(1, min(last, info.context.settings.max_page_size))
        return [
            SupportMessage(row=r)
            for r in await support.latest_messages(info.context.session, conversation=self.row, last=last)
        ]

    @strawberry.field(description="The work order opened from this conversation, if any.")
    async def work_order(self, info: Info) -> WorkOrder | None:
        if not self.row.work_order_id:
            return None
        from laoyou.tickets import service as tickets  # noqa: PLC0415

        try:
            row = await tickets.access_work_order(
                info.context.session, actor=info.context.actor, order_id=self.row.work_order_id
            )
        except NotFound:
            return None
        return WorkOrder(row=row)

    @strawberry.field(description="Staff only: the household's unpaid bills, newest first.")
    async def open_bills(self, info: Info, first: int = 10) -> list[Bill]:
        rows = await support.household_open_bills(
            info.context.session, actor=info.context.actor, conversation=self.row, first=first
        )
        return [Bill(row=r) for r in rows]

    @strawberry.field(description="Staff only: the household's open work orders, newest first.")
    async def open_work_orders(self, info: Info, first: int = 10) -> list[WorkOrder]:
        rows = await support.household_open_work_orders(
            info.context.session, actor=info.context.actor, conversation=self.row, first=first
        )
        return [WorkOrder(row=r) for r in rows]

    @strawberry.field(description="Colleagues it may be handed to (staff only).")
    async def transfer_targets(self, info: Info) -> list[TransferTarget]:
        found = await support.transfer_targets(
            info.context.session, actor=info.context.actor, conversation=self.row
        )
        return [TransferTarget(id=encode_id(p.id), name=p.name, role=role) for p, role in found]


@strawberry.type
class TransferTarget:
    id: strawberry.ID
    name: str
    role: str = strawberry.field(description="agent or steward")


@strawberry.type(description="What changed in a conversation: its state and the messages after the cursor.")
class ChatUpdate:
    conversation: SupportConversation
    messages: list[SupportMessage]
    shared: strawberry.Private[feed.Shared | None] = None

    def shared_execution(self, executor: Any, execute: Any) -> Any:
        """Called by the executor for each subscriber: one execution serves all who may see the same answer."""
        if self.shared is None:
            return execute(executor)
        return self.shared.execute(executor, execute)


@strawberry.type
class AgentStatus:
    row: strawberry.Private[models.AgentStatus]

    @strawberry.field
    def online(self) -> bool:
        return self.row.online

    @strawberry.field(description="Local time, HH:MM.")
    def hours_start(self) -> str:
        return support.format_hhmm(self.row.hours_start)

    @strawberry.field(description="Local time, HH:MM.")
    def hours_end(self) -> str:
        return support.format_hhmm(self.row.hours_end)

    @strawberry.field(description="Online and within their hours now.")
    def on_shift(self) -> bool:
        return support.on_shift(self.row, utcnow())


@strawberry.type(description="A common question and its plain answer, kept by the district's staff.")
class FaqEntry:
    row: strawberry.Private[models.FaqEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def district_id(self) -> strawberry.ID:
        return encode_id(self.row.district_id)

    @strawberry.field
    def question(self) -> str:
        return self.row.question

    @strawberry.field
    def answer(self) -> str:
        return self.row.answer

    @strawberry.field
    def keywords(self) -> str:
        return self.row.keywords


@strawberry.type(description="Customer-service figures over the last 30 days, for a district or an agent.")
class SupportFigure:
    id: strawberry.ID | None
    label: str
    conversations: int
    answered: int
    closed: int
    ratings: int
    first_response_seconds: int | None
    resolution_seconds: int | None
    satisfaction: float | None = strawberry.field(description="Average stars, 1 to 5.")

    @classmethod
    def of(cls, figures: support.Figures) -> SupportFigure:
        return cls(
            id=encode_id(figures.key),
            label=figures.label,
            conversations=figures.conversations,
            answered=figures.answered,
            closed=figures.closed,
            ratings=figures.ratings,
            first_response_seconds=figures.first_response_seconds,
            resolution_seconds=figures.resolution_seconds,
            satisfaction=figures.satisfaction,
        )


@strawberry.type
class SupportFigures:
    districts: list[SupportFigure]
    agents: list[SupportFigure]


@strawberry.type(description="An SOS a resident raised: where, and who is coming.")
class SosAlert:
    row: strawberry.Private[models.SosAlert]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="open, acknowledged or resolved")
    def status(self) -> str:
        return self.row.status

    @strawberry.field
    def address(self) -> str:
        return self.row.address

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def acknowledged_at(self) -> datetime | None:
        return _opt(self.row.acknowledged_at)

    @strawberry.field(
        description='Whether the resident called it off herself ("I am fine"); it is resolved then too.'
    )
    def cancelled(self) -> bool:
        return self.row.cancelled_at is not None

    @strawberry.field
    async def resident(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.person_id)

    @strawberry.field(
        description="The resident's whole phone number, for the staff who answer the alert to call back at once; "
        "null for anyone else. Each read is audited."
    )
    async def resident_phone(self, info: Info) -> str | None:
        return await info.context.loaders.sos_resident_phone.load(self.row.id)

    @strawberry.field(
        description="Her home; its residentsToCall give the family who follow it her number to call."
    )
    async def household(self, info: Info) -> Household:
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))

    @strawberry.field(
        description="Whether the viewer is the resident who raised it (family and staff are not)."
    )
    def viewer_is_resident(self, info: Info) -> bool:
        actor = info.context.actor
        return actor.is_authenticated and actor.person_id == self.row.person_id

    @strawberry.field(description="Whether family following the household were told when it was raised.")
    async def family_told(self, info: Info) -> bool:
        return await support.sos_family_told(info.context.session, alert=self.row)

    @strawberry.field(description="Who is coming to help.")
    async def responder(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.responder_id)

    @strawberry.field(description="The responder's work phone, to call them.")
    async def responder_phone(self, info: Info) -> str | None:
        if self.row.responder_id is None:
            return None
        row = await info.context.loaders.person_by_id.load(self.row.responder_id)
        return national(row.phone) if row else None


@strawberry.type(description="An audio or video call in the browser.")
class SupportCall:
    row: strawberry.Private[models.Call]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="ringing, connected, ended, missed or declined")
    def status(self) -> str:
        return self.row.status

    @strawberry.field
    def video(self) -> bool:
        return self.row.video

    @strawberry.field
    def conversation_id(self) -> strawberry.ID:
        return encode_id(self.row.conversation_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def answered_at(self) -> datetime | None:
        return _opt(self.row.answered_at)

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return _opt(self.row.ended_at)

    @strawberry.field
    def viewer_is_caller(self, info: Info) -> bool:
        return self.row.caller_id == info.context.actor.person_id

    @strawberry.field
    async def caller(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.caller_id)

    @strawberry.field(description="Empty while it rings for any agent of the district.")
    async def callee(self, info: Info) -> SupportPerson | None:
        return await _person(info, self.row.callee_id)


@strawberry.type(
    description="A WebRTC signal from the other side: offer, answer, ice or hangup (payload is JSON)."
)
class CallSignal:
    id: strawberry.ID
    kind: str
    payload: str


@strawberry.type
class CallUpdate:
    call: SupportCall
    signals: list[CallSignal]


@strawberry.type(
    description="A STUN or TURN server for WebRTC, from LAOYOU_ICE_SERVERS or with the viewer's own TURN login."
)
class IceServer:
    urls: list[str]
    username: str | None = None
    credential: str | None = None


@strawberry.type(description="What the 'call my steward' button dials; the press is logged.")
class StewardCallLogged:
    phone: str


# --- errors and payloads ------------------------------------------------------------------------------


@strawberry.type
class SupportError(Error):
    pass


@strawberry.type
class ChatMessageSent:
    chat_message: SupportMessage
    conversation: SupportConversation
    service_replies: list[SupportMessage] = strawberry.field(
        description="Answers the service gave at once: the FAQ, when a person will reply, or (for a message that "
        "looks like an emergency) an emergency reply with one-tap SOS and calls. A message never raises an SOS."
    )


@strawberry.type
class ConversationUpdated:
    conversation: SupportConversation


@strawberry.type
class AgentStatusUpdated:
    status: AgentStatus


@strawberry.type
class FaqEntrySaved:
    entry: FaqEntry


@strawberry.type
class FaqEntryDeleted:
    id: strawberry.ID


@strawberry.type
class SosRaised:
    alert: SosAlert


@strawberry.type
class CallUpdated:
    call: SupportCall


@strawberry.type
class CallSignalSent:
    id: strawberry.ID


@strawberry.type
class WorkOrderOpened:
    work_order_id: strawberry.ID
    work_order: WorkOrder
    conversation: SupportConversation


SendChatMessageResult = Annotated[ChatMessageSent | SupportError, strawberry.union("SendChatMessageResult")]
ConversationResult = Annotated[ConversationUpdated | SupportError, strawberry.union("ConversationResult")]
AgentStatusResult = Annotated[AgentStatusUpdated | SupportError, strawberry.union("AgentStatusResult")]
FaqEntryResult = Annotated[FaqEntrySaved | SupportError, strawberry.union("FaqEntryResult")]
DeleteFaqEntryResult = Annotated[FaqEntryDeleted | SupportError, strawberry.union("DeleteFaqEntryResult")]
SosResult = Annotated[SosRaised | SupportError, strawberry.union("SosResult")]
CallResult = Annotated[CallUpdated | SupportError, strawberry.union("CallResult")]
CallSignalResult = Annotated[CallSignalSent | SupportError, strawberry.union("CallSignalResult")]
StewardCallResult = Annotated[StewardCallLogged | SupportError, strawberry.union("StewardCallResult")]
WorkOrderResult = Annotated[WorkOrderOpened | SupportError, strawberry.union("WorkOrderResult")]


def _opt_id(value: strawberry.ID | None) -> int | None:
    return decode_id(value) if value is not None else None


@strawberry.type
class SupportQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated], description="One conversation the viewer may see."
    )
    async def support_conversation(self, info: Info, id: strawberry.ID) -> SupportConversation:
        row = await support.access_conversation(
            info.context.session, actor=info.context.actor, conversation_id=decode_id(id)
        )
        return SupportConversation(row=row)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The resident's open conversation about their home, if any.",
    )
    async def my_support_conversation(
        self, info: Info, household_id: strawberry.ID | None = None
    ) -> SupportConversation | None:
        row = await support.current_conversation(
            info.context.session, actor=info.context.actor, household_id=_opt_id(household_id)
        )
        return SupportConversation(row=row) if row else None

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Residents: their own conversations; staff: their districts' and those handed to them.",
    )
    async def support_conversations(
        self,
        info: Info,
        first: int = 20,
        before_id: strawberry.ID | None = None,
        status: str | None = None,
        mine: bool = False,
    ) -> list[SupportConversation]:
        first = max(1, min(first, info.context.settings.max_page_size))
        rows = await support.list_conversations(
            info.context.session,
            actor=info.context.actor,
            first=first,
            after=_opt_id(before_id),
            mine_only=mine,
            status=status,
        )
        return [SupportConversation(row=r) for r in rows]

    @strawberry.field(
        permission_classes=[IsStaff],
        description="Waiting and active conversations, urgent and longest waiting first.",
    )
    async def support_queue(self, info: Info) -> list[SupportConversation]:
        return [
            SupportConversation(row=r)
            for r in await support.support_queue(info.context.session, actor=info.context.actor)
        ]

    @strawberry.field(
        permission_classes=[IsStaff], description="The viewer's hours and online state, for agents."
    )
    async def my_agent_status(self, info: Info) -> AgentStatus | None:
        row = await support.agent_status(info.context.session, actor=info.context.actor)
        return AgentStatus(row=row) if row else None

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The FAQ of the districts the viewer belongs to or serves.",
    )
    async def faq_entries(self, info: Info, district_id: strawberry.ID | None = None) -> list[FaqEntry]:
        rows = await support.list_faq(
            info.context.session, actor=info.context.actor, district_id=_opt_id(district_id)
        )
        return [FaqEntry(row=r) for r in rows]

    @strawberry.field(
        permission_classes=[IsStaff], description="First-response time, resolution time and satisfaction."
    )
    async def support_figures(self, info: Info) -> SupportFigures:
        districts, agents = await support.support_figures(info.context.session, actor=info.context.actor)
        return SupportFigures(
            districts=[SupportFigure.of(f) for f in districts], agents=[SupportFigure.of(f) for f in agents]
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def sos_alert(self, info: Info, id: strawberry.ID) -> SosAlert:
        return SosAlert(
            row=await support.access_sos(
                info.context.session, actor=info.context.actor, alert_id=decode_id(id)
            )
        )

    @strawberry.field(
        permission_classes=[IsStaff], description="Open SOS alerts in the communities the viewer serves."
    )
    async def sos_alerts(self, info: Info) -> list[SosAlert]:
        return [
            SosAlert(row=r) for r in await support.list_sos(info.context.session, actor=info.context.actor)
        ]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def support_call(self, info: Info, id: strawberry.ID) -> SupportCall:
        return SupportCall(
            row=await support.access_call(
                info.context.session, actor=info.context.actor, call_id=decode_id(id)
            )
        )

    @strawberry.field(permission_classes=[IsAuthenticated], description="Calls ringing for the viewer now.")
    async def ringing_calls(self, info: Info) -> list[SupportCall]:
        return [
            SupportCall(row=r)
            for r in await support.ringing_calls(info.context.session, actor=info.context.actor)
        ]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="STUN/TURN servers for calls; with LAOYOU_TURN_SECRET, a TURN login of the viewer's own that "
        "expires after LAOYOU_TURN_CREDENTIAL_SECONDS.",
    )
    def ice_servers(self, info: Info) -> list[IceServer]:
        settings = info.context.settings
        servers = ice_servers(settings.ice_servers)
        urls = turn_urls(settings.turn_urls)
        if settings.turn_secret and urls:
            login = turn_login(
                settings.turn_secret,
                info.context.actor.person_id,
                now=utcnow(),
                seconds=settings.turn_credential_seconds,
            )
            servers.append(IceServer(urls=urls, username=login.username, credential=login.credential))
        return servers


def ice_servers(raw: str) -> list[IceServer]:
    try:
        entries = json.loads(raw or "[]")
    except ValueError:
        return []
    result = []
    for entry in entries if isinstance(entries, list) else []:
        urls = entry.get("urls") if isinstance(entry, dict) else None
        if isinstance(urls, str):
            urls = [urls]
        if urls:
            result.append(
                IceServer(
                    urls=[str(u) for u in urls],
                    username=entry.get("username"),
                    credential=entry.get("credential"),
                )
            )
    return result


@strawberry.type
class SupportMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Send a text, or a voice note or photo uploaded to /media. clientId (made by the app) makes a "
        "retried send return the first message. Without conversationId a resident writes in their open conversation.",
    )
    async def send_chat_message(
        self,
        info: Info,
        client_id: str,
        body: str = "",
        media_id: strawberry.ID | None = None,
        conversation_id: strawberry.ID | None = None,
        household_id: strawberry.ID | None = None,
    ) -> SendChatMessageResult:
        context = info.context

        async def work() -> ChatMessageSent:
            sent = await support.do_send_message(
                context.session,
                actor=context.actor,
                client_id=client_id,
                body=body,
                media_id=_opt_id(media_id),
                conversation_id=_opt_id(conversation_id),
                household_id=_opt_id(household_id),
            )
            return ChatMessageSent(
                chat_message=SupportMessage(row=sent.message),
                conversation=SupportConversation(row=sent.conversation),
                service_replies=[SupportMessage(row=m) for m in sent.service_replies],
            )

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Mark messages up to seq as received (and read)."
    )
    async def mark_chat_seen(
        self, info: Info, conversation_id: strawberry.ID, seq: int, read: bool = True
    ) -> ConversationResult:
        context = info.context

        async def work() -> ConversationUpdated:
            row = await support.do_mark(
                context.session,
                actor=context.actor,
                conversation_id=decode_id(conversation_id),
                seq=seq,
                read=read,
            )
            return ConversationUpdated(conversation=SupportConversation(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def claim_conversation(self, info: Info, id: strawberry.ID) -> ConversationResult:
        return await _conversation_action(info, support.do_claim, conversation_id=decode_id(id))

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Hand a conversation to another agent or the community's steward.",
    )
    async def transfer_conversation(
        self, info: Info, id: strawberry.ID, to_person_id: strawberry.ID
    ) -> ConversationResult:
        return await _conversation_action(
            info, support.do_transfer, conversation_id=decode_id(id), to_person_id=decode_id(to_person_id)
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def close_conversation(self, info: Info, id: strawberry.ID) -> ConversationResult:
        return await _conversation_action(info, support.do_close, conversation_id=decode_id(id))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="The resident gives 1 to 5 stars once it has ended."
    )
    async def rate_conversation(
        self, info: Info, id: strawberry.ID, stars: int, comment: str = ""
    ) -> ConversationResult:
        return await _conversation_action(
            info, support.do_rate, conversation_id=decode_id(id), stars=stars, comment=comment
        )

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Open a work order from the conversation in one action: logged for the resident with source "
        "chat, linked to the conversation, and the resident is told in the chat. Again: the same work order.",
    )
    async def turn_conversation_into_work_order(
        self,
        info: Info,
        id: strawberry.ID,
        category: WorkOrderCategory = ticket_models.Category.other,  # type: ignore[valid-type]
        kind: WorkOrderKind = ticket_models.Kind.repair,  # type: ignore[valid-type]
    ) -> WorkOrderResult:
        context = info.context

        async def work() -> WorkOrderOpened:
            conversation_id = decode_id(id)
            row, order = await support.do_turn_into_work_order(
                context.session,
                actor=context.actor,
                conversation_id=conversation_id,
                category=ticket_models.Category(category).value,
                kind=ticket_models.Kind(kind).value,
            )
            return WorkOrderOpened(
                work_order_id=encode_id(order.id),
                work_order=WorkOrder(row=order),
                conversation=SupportConversation(row=row),
            )

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Agents: online or not, and working hours (HH:MM local)."
    )
    async def set_agent_status(
        self,
        info: Info,
        online: bool | None = None,
        hours_start: str | None = None,
        hours_end: str | None = None,
    ) -> AgentStatusResult:
        context = info.context

        async def work() -> AgentStatusUpdated:
            row = await support.do_set_agent_status(
                context.session,
                actor=context.actor,
                online=online,
                hours_start=hours_start,
                hours_end=hours_end,
            )
            return AgentStatusUpdated(status=AgentStatus(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Add (with districtId) or change (with id) a FAQ entry."
    )
    async def save_faq_entry(
        self,
        info: Info,
        question: str,
        answer: str,
        keywords: str = "",
        id: strawberry.ID | None = None,
        district_id: strawberry.ID | None = None,
    ) -> FaqEntryResult:
        context = info.context

        async def work() -> FaqEntrySaved:
            row = await support.do_save_faq(
                context.session,
                actor=context.actor,
                district_id=_opt_id(district_id),
                entry_id=_opt_id(id),
                question=question,
                answer=answer,
                keywords=keywords,
            )
            return FaqEntrySaved(entry=FaqEntry(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def delete_faq_entry(self, info: Info, id: strawberry.ID) -> DeleteFaqEntryResult:
        context = info.context

        async def work() -> FaqEntryDeleted:
            await support.do_delete_faq(context.session, actor=context.actor, entry_id=decode_id(id))
            return FaqEntryDeleted(id=id)

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Log a press of 'call my steward'; answers the number to dial.",
    )
    async def log_steward_call(self, info: Info, household_id: strawberry.ID) -> StewardCallResult:
        context = info.context

        async def work() -> StewardCallLogged:
            log = await support.do_log_steward_call(
                context.session, actor=context.actor, household_id=decode_id(household_id)
            )
            return StewardCallLogged(phone=national(log.phone))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="SOS: alert the on-duty staff with the address and tell the family.",
    )
    async def raise_sos(self, info: Info, household_id: strawberry.ID, client_id: str) -> SosResult:
        context = info.context

        async def work() -> SosRaised:
            row = await support.do_raise_sos(
                context.session,
                actor=context.actor,
                household_id=decode_id(household_id),
                client_id=client_id,
            )
            return SosRaised(alert=SosAlert(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Say you are coming (or, with resolve, that it is dealt with).",
    )
    async def respond_sos(self, info: Info, id: strawberry.ID, resolve: bool = False) -> SosResult:
        context = info.context

        async def work() -> SosRaised:
            row = await support.do_respond_sos(
                context.session, actor=context.actor, alert_id=decode_id(id), resolve=resolve
            )
            return SosRaised(alert=SosAlert(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="The resident who raised it says she is fine: it is resolved as cancelled by her, and those "
        "alerted are told. Only she may; an SOS already resolved is refused and left as it is.",
    )
    async def cancel_sos(self, info: Info, id: strawberry.ID) -> SosResult:
        context = info.context

        async def work() -> SosRaised:
            row = await do_cancel_sos(context.session, actor=context.actor, alert_id=decode_id(id))
            return SosRaised(alert=SosAlert(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ring customer service (or, with toSteward, the steward); staff ring the resident.",
    )
    async def start_call(
        self,
        info: Info,
        video: bool = False,
        conversation_id: strawberry.ID | None = None,
        household_id: strawberry.ID | None = None,
        to_steward: bool = False,
    ) -> CallResult:
        context = info.context

        async def work() -> CallUpdated:
            row = await support.do_start_call(
                context.session,
                actor=context.actor,
                video=video,
                conversation_id=_opt_id(conversation_id),
                household_id=_opt_id(household_id),
                to_steward=to_steward,
            )
            return CallUpdated(call=SupportCall(row=row))

        return await mutation_boundary(info, SupportError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def answer_call(self, info: Info, id: strawberry.ID) -> CallResult:
        return await _call_action(info, support.do_answer_call, call_id=decode_id(id))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="End, cancel or decline a call.")
    async def hang_up_call(self, info: Info, id: strawberry.ID) -> CallResult:
        return await _call_action(info, support.do_hang_up, call_id=decode_id(id))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Pass an offer, answer or ICE candidate (JSON)."
    )
    async def send_call_signal(
        self, info: Info, call_id: strawberry.ID, kind: str, payload: str
    ) -> CallSignalResult:
        context = info.context

        async def work() -> CallSignalSent:
            row = await support.do_send_signal(
                context.session, actor=context.actor, call_id=decode_id(call_id), kind=kind, payload=payload
            )
            return CallSignalSent(id=encode_id(row.id))

        return await mutation_boundary(info, SupportError, work)


async def _conversation_action(info: Info, action: Any, **kwargs: Any) -> ConversationUpdated | SupportError:
    context = info.context

    async def work() -> ConversationUpdated:
        row = await action(context.session, actor=context.actor, **kwargs)
        return ConversationUpdated(conversation=SupportConversation(row=row))

    return await mutation_boundary(info, SupportError, work)


async def _call_action(info: Info, action: Any, **kwargs: Any) -> CallUpdated | SupportError:
    context = info.context

    async def work() -> CallUpdated:
        return CallUpdated(call=SupportCall(row=await action(context.session, actor=context.actor, **kwargs)))

    return await mutation_boundary(info, SupportError, work)


# --- subscriptions ------------------------------------------------------------------------------------


def _chat_update(
    conversation: models.Conversation, rows: list[models.Message], shared: feed.Shared | None
) -> ChatUpdate:
    return ChatUpdate(
        conversation=SupportConversation(row=conversation),
        messages=[SupportMessage(row=r) for r in rows],
        shared=shared,
    )


@strawberry.type
class SupportSubscription:
    @strawberry.subscription(
        description="A conversation live: first everything after afterSeq (the reconnect cursor), then each change. "
        "Every message arrives once, in seq order."
    )
    async def support_chat(
        self, info: Info, conversation_id: strawberry.ID, after_seq: int = 0
    ) -> AsyncGenerator[ChatUpdate, None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        cid = decode_id(conversation_id)
        async with Scoped(info) as session:
            await support.access_conversation(session, actor=context.actor, conversation_id=cid)
        cursor = max(0, after_seq)
        # One listener and one fetch per event for all of this process's subscribers to the conversation.
        hub = feed.hub_for(context.pubsub)
        live = await hub.join(cid)
        try:
            while True:
                generation = live.generation
                found = await live.read(context.sessionmaker, cursor, _chat_update)
                if found is None:
                    return
                update, count = found
                if count:
                    cursor = update.messages[-1].row.seq
                # A shared update is resolved with a context of its own; one read alone (a long-absent cursor)
                # is resolved with this subscription's, which opens a session only if a field needs one.
                async with Scoped(info, lazy=True):
                    yield update
                if count < feed.PAGE:
                    await live.wait_newer(generation)
        finally:
            await hub.leave(live)

    @strawberry.subscription(description="Agents: the queue now, and again whenever it changes.")
    async def support_queue(self, info: Info) -> AsyncGenerator[list[SupportConversation], None]:
        context = info.context
        if not context.actor.is_staff:
            raise NotFound()
        # Agents hear their districts; the admin hears every district.
        channels = [
            *support.district_channels(context.actor),
            support.person_channel(context.actor.person_id),
        ]
        async with listen(context.pubsub, channels) as wake:
            while True:
                async with Scoped(info) as session:
                    rows = await support.support_queue(session, actor=context.actor)
                    yield [SupportConversation(row=r) for r in rows]
                await wake.get()

    @strawberry.subscription(
        description="One SOS alert now and whenever it changes: who is coming, and its state."
    )
    async def sos_alert(self, info: Info, id: strawberry.ID) -> AsyncGenerator[SosAlert, None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        alert_id = decode_id(id)
        async with Scoped(info) as session:
            await support.access_sos(session, actor=context.actor, alert_id=alert_id)
        async with listen(context.pubsub, [support.sos_channel(alert_id)]) as wake:
            while True:
                async with Scoped(info) as session:
                    row = await support.access_sos(session, actor=context.actor, alert_id=alert_id)
                    yield SosAlert(row=row)
                await wake.get()

    @strawberry.subscription(
        description="Open SOS alerts in the communities the viewer serves (as sosAlerts), now and whenever one "
        "of their districts' alerts is raised or answered."
    )
    async def sos_alerts(self, info: Info) -> AsyncGenerator[list[SosAlert], None]:
        context = info.context
        if not context.actor.is_staff:
            raise NotFound()
        async with Scoped(info) as session:
            channels = await support.sos_channels(session, actor=context.actor)
        async with listen(context.pubsub, channels) as wake:
            while True:
                async with Scoped(info) as session:
                    rows = await support.list_sos(session, actor=context.actor)
                    yield [SosAlert(row=r) for r in rows]
                await wake.get()

    @strawberry.subscription(description="Calls ringing for the viewer, now and whenever that changes.")
    async def ringing_calls(self, info: Info) -> AsyncGenerator[list[SupportCall], None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        async with listen(context.pubsub, support.ring_channels(context.actor)) as wake:
            while True:
                async with Scoped(info) as session:
                    rows = await support.ringing_calls(session, actor=context.actor)
                    yield [SupportCall(row=r) for r in rows]
                await wake.get()

    @strawberry.subscription(
        description="One call live: its state and the other side's signals after afterId."
    )
    async def call_signals(
        self, info: Info, call_id: strawberry.ID, after_id: int = 0
    ) -> AsyncGenerator[CallUpdate, None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        cid = decode_id(call_id)
        async with Scoped(info) as session:
            await support.access_call(session, actor=context.actor, call_id=cid)
        cursor = max(0, after_id)
        async with listen(context.pubsub, [support.call_channel(cid)]) as wake:
            while True:
                async with Scoped(info) as session:
                    found = await support.signals_since(
                        session, actor=context.actor, call_id=cid, after_id=cursor
                    )
                    cursor = found.cursor
                    yield CallUpdate(
                        call=SupportCall(row=found.call),
                        signals=[
                            CallSignal(id=encode_id(r.id), kind=r.kind, payload=r.payload)
                            for r in found.signals
                        ],
                    )
                    ended = not support.is_live(found.call)
                if ended:
                    return
                await wake.get()
