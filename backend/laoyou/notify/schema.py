"""GraphQL for web push: the public key, this device on or off, preferences per kind, emergency notices."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from laoyou.core.time import as_utc
from laoyou.estates.schema import Community
from laoyou.graphql.context import Info
from laoyou.graphql.errors import Error, mutation_boundary
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id
from laoyou.notify import service as notify
from laoyou.notify.models import EmergencyKind as EmergencyKindValue
from laoyou.notify.models import EmergencyNotice as EmergencyNoticeRow
from laoyou.notify.models import PushKind as PushKindValue
from laoyou.notify.vapid import signer_for

PushKind = strawberry.enum(Enum("PushKind", {v.name.upper(): v.value for v in PushKindValue}))
EmergencyKind = strawberry.enum(Enum("EmergencyKind", {v.name.upper(): v.value for v in EmergencyKindValue}))


@strawberry.type
class PushPreference:
    kind: PushKind  # type: ignore[valid-type]
    enabled: bool


@strawberry.type(description="What the viewer's phones are told, and the key browsers subscribe with.")
class PushSettings:
    public_key: str = strawberry.field(description="The VAPID applicationServerKey (base64url).")
    devices: int = strawberry.field(description="How many of the viewer's phones have notifications on.")
    preferences: list[PushPreference]


@strawberry.type(description="A warning a steward sent to whole communities.")
class EmergencyNotice:
    row: strawberry.Private[EmergencyNoticeRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def kind(self) -> EmergencyKind:  # type: ignore[valid-type]
        return EmergencyKind(self.row.kind)

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field(description="Staff only: how many people were told.")
    def people_notified(self, info: Info) -> int | None:
        return self.row.people_notified if info.context.actor.is_staff else None


@strawberry.type
class PushError(Error):
    pass


@strawberry.type
class PushDeviceSaved:
    devices: int


@strawberry.type
class PushPreferencesSaved:
    preferences: list[PushPreference]


@strawberry.type
class EmergencyNoticeError(Error):
    pass


@strawberry.type
class EmergencyNoticeSent:
    notices: list[EmergencyNotice]
    people_notified: int


@strawberry.input
class PushPreferenceInput:
    kind: PushKind  # type: ignore[valid-type]
    enabled: bool


PushDeviceResult = Annotated[PushDeviceSaved | PushError, strawberry.union("PushDeviceResult")]
PushPreferencesResult = Annotated[PushPreferencesSaved | PushError, strawberry.union("PushPreferencesResult")]
EmergencyNoticeResult = Annotated[
    EmergencyNoticeSent | EmergencyNoticeError, strawberry.union("EmergencyNoticeResult")
]


def _preferences(found: dict) -> list[PushPreference]:
    return [PushPreference(kind=PushKind(kind.value), enabled=on) for kind, on in found.items()]


@strawberry.type
class NotifyQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def push_settings(self, info: Info) -> PushSettings:
        context = info.context
        return PushSettings(
            public_key=signer_for(context.settings).public_key,
            devices=await notify.device_count(context.session, actor=context.actor),
            preferences=_preferences(await notify.preferences(context.session, actor=context.actor)),
        )

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Recent emergency notices for my communities."
    )
    async def emergency_notices(self, info: Info, first: int = 10) -> list[EmergencyNotice]:
        limit = max(1, min(first, info.context.settings.max_page_size))
        rows = await notify.list_emergencies(info.context.session, actor=info.context.actor, first=limit)
        return [EmergencyNotice(row=r) for r in rows]


@strawberry.type
class NotifyMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Turn notifications on for this phone."
    )
    async def register_push_subscription(
        self, info: Info, endpoint: str, p256dh: str, auth: str
    ) -> PushDeviceResult:
        context = info.context

        async def work() -> PushDeviceSaved:
            await notify.do_register_subscription(
                context.session,
                actor=context.actor,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                user_agent=context.actor.user_agent,
            )
            return PushDeviceSaved(devices=await notify.device_count(context.session, actor=context.actor))

        return await mutation_boundary(info, PushError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Turn notifications off for this phone."
    )
    async def remove_push_subscription(self, info: Info, endpoint: str) -> PushDeviceResult:
        context = info.context

        async def work() -> PushDeviceSaved:
            await notify.do_remove_subscription(context.session, actor=context.actor, endpoint=endpoint)
            return PushDeviceSaved(devices=await notify.device_count(context.session, actor=context.actor))

        return await mutation_boundary(info, PushError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Choose which kinds reach my phones."
    )
    async def set_push_preferences(
        self, info: Info, preferences: list[PushPreferenceInput]
    ) -> PushPreferencesResult:
        context = info.context

        async def work() -> PushPreferencesSaved:
            found = await notify.do_set_preferences(
                context.session,
                actor=context.actor,
                enabled={p.kind.value: p.enabled for p in preferences[:20]},
            )
            return PushPreferencesSaved(preferences=_preferences(found))

        return await mutation_boundary(info, PushError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Stewards warn whole communities (water cut, lift out, typhoon), urgently. clientId (made by "
        "the form or app) makes it one send: sent again with the same one, it answers the notices sent the first time.",
    )
    async def send_emergency_notice(
        self,
        info: Info,
        community_ids: list[strawberry.ID],
        kind: EmergencyKind,
        title: str,  # type: ignore[valid-type]
        body: str = "",
        client_id: str | None = None,
    ) -> EmergencyNoticeResult:
        context = info.context
        ids = [decode_id(c) for c in community_ids[:50]]

        async def work() -> EmergencyNoticeSent:
            notices = await notify.do_send_emergency(
                context.session,
                actor=context.actor,
                community_ids=ids,
                kind=kind.value,
                title=title,
                body=body,
                client_id=client_id,
            )
            return EmergencyNoticeSent(
                notices=[EmergencyNotice(row=n) for n in notices],
                people_notified=sum(n.people_notified for n in notices),
            )

        return await mutation_boundary(info, EmergencyNoticeError, work)
