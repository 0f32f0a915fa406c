"""GraphQL for briefings: read them, post and manage them, read receipts, thanks, the public share view."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry

from laoyou.briefings import service as briefings
from laoyou.briefings.models import Briefing as BriefingRow
from laoyou.briefings.models import BriefingItemKind as BriefingItemKindValue
from laoyou.briefings.models import BriefingStatus as BriefingStatusValue
from laoyou.core.errors import NotFound
from laoyou.core.time import as_utc
from laoyou.estates.schema import Community
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.live import Scoped, listen
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import Connection, connection, decode_id, encode_id, page_args
from laoyou.media.models import MediaFile as MediaFileRow

BriefingStatus = strawberry.enum(
    Enum("BriefingStatus", {v.name.upper(): v.value for v in BriefingStatusValue})
)
BriefingItemKind = strawberry.enum(
    Enum("BriefingItemKind", {v.name.upper(): v.value for v in BriefingItemKindValue})
)


@strawberry.enum(description="DRAFT keeps it private; NOW publishes it; SCHEDULED publishes it at publishAt.")
class BriefingPublishMode(Enum):
    DRAFT = "draft"
    NOW = "now"
    SCHEDULED = "scheduled"


@strawberry.type(description="One thing the team did today.")
class BriefingItem:
    kind: BriefingItemKind  # type: ignore[valid-type]
    text: str


@strawberry.type(description="A photo or the video of a briefing, served under the briefing's own address.")
class BriefingMedia:
    row: strawberry.Private[MediaFileRow]
    base: strawberry.Private[str]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="image or video")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field
    def content_type(self) -> str:
        return self.row.content_type

    @strawberry.field
    def url(self) -> str:
        return f"{self.base}/media/{self.row.id}"

    @strawberry.field
    def thumb_url(self) -> str | None:
        return f"{self.base}/media/{self.row.id}/thumb" if self.row.thumb_key else None

    @strawberry.field
    def width(self) -> int | None:
        return self.row.width

    @strawberry.field
    def height(self) -> int | None:
        return self.row.height


@strawberry.type(description="How many households of one community have read a briefing.")
class BriefingReadCount:
    receipt: strawberry.Private[briefings.ReadReceipt]

    @strawberry.field
    def community(self) -> Community:
        return Community(row=self.receipt.community)

    @strawberry.field
    def households(self) -> int:
        return self.receipt.households

    @strawberry.field
    def households_read(self) -> int:
        return self.receipt.households_read

    @strawberry.field
    def thanks(self) -> int:
        return self.receipt.thanks


async def _media(info: Info, row: BriefingRow, base: str) -> list[BriefingMedia]:
    return [
        BriefingMedia(row=m, base=base) for _, m in await info.context.loaders.briefing_media.load(row.id)
    ]


def _items(row: BriefingRow) -> list[BriefingItem]:
    return [BriefingItem(kind=BriefingItemKind(i["kind"]), text=i["text"]) for i in briefings.items_of(row)]


@strawberry.type(description="A daily work briefing (工作简报).")
class Briefing:
    row: strawberry.Private[BriefingRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def items(self) -> list[BriefingItem]:
        return _items(self.row)

    @strawberry.field
    def status(self) -> BriefingStatus:  # type: ignore[valid-type]
        return BriefingStatus(self.row.status)

    @strawberry.field
    def publish_at(self) -> datetime | None:
        return as_utc(self.row.publish_at) if self.row.publish_at else None

    @strawberry.field
    def published_at(self) -> datetime | None:
        return as_utc(self.row.published_at) if self.row.published_at else None

    @strawberry.field(description="When a published briefing was last corrected, if it was.")
    def edited_at(self) -> datetime | None:
        return as_utc(self.row.edited_at) if self.row.edited_at else None

    @strawberry.field
    def withdrawn_at(self) -> datetime | None:
        return as_utc(self.row.withdrawn_at) if self.row.withdrawn_at else None

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    async def photos(self, info: Info) -> list[BriefingMedia]:
        return [m for m in await _media(info, self.row, f"/briefings/{self.row.id}") if m.row.kind == "image"]

    @strawberry.field
    async def video(self, info: Info) -> BriefingMedia | None:
        videos = [
            m for m in await _media(info, self.row, f"/briefings/{self.row.id}") if m.row.kind == "video"
        ]
        return videos[0] if videos else None

    @strawberry.field(description="The communities it is for, of those the viewer may see.")
    async def communities(self, info: Info) -> list[Community]:
        ids = await info.context.loaders.briefing_audience.load(self.row.id)
        from laoyou.estates import service as estates

        visible = await estates.visible_community_ids(info.context.session, info.context.actor)
        rows = await info.context.loaders.community_by_id.load_many(
            [
                i
                for i in ids
                if visible is None or i in visible or self.row.author_id == info.context.actor.person_id
            ]
        )
        return [Community(row=c) for c in rows if c is not None]

    @strawberry.field
    async def read_by_me(self, info: Info) -> bool:
        return (await info.context.loaders.briefing_marks.load((info.context.actor.person_id, self.row.id)))[
            0
        ]

    @strawberry.field
    async def thanked_by_me(self, info: Info) -> bool:
        return (await info.context.loaders.briefing_marks.load((info.context.actor.person_id, self.row.id)))[
            1
        ]

    @strawberry.field(description="Staff: per community they serve, households that read it and thanks.")
    async def read_receipts(self, info: Info) -> list[BriefingReadCount]:
        context = info.context
        if not context.actor.is_staff:
            return []
        receipts = await briefings.read_receipts(context.session, actor=context.actor, briefing=self.row)
        return [BriefingReadCount(receipt=r) for r in receipts]

    @strawberry.field(
        description="Staff: the public page's address, to paste into the residents' chat group."
    )
    def share_url(self, info: Info) -> str | None:
        if not info.context.actor.is_staff or self.row.status != BriefingStatusValue.published.value:
            return None
        return f"{info.context.settings.public_url.rstrip('/')}/share/briefings/{self.row.share_token}"

    @strawberry.field(description="Whether the viewer may correct, publish or withdraw it.")
    async def can_edit(self, info: Info) -> bool:
        context = info.context
        if not context.actor.is_staff:
            return False
        try:
            await briefings.access_briefing_as_editor(
                context.session, actor=context.actor, briefing_id=self.row.id
            )
        except Exception:  # noqa: BLE001 - a denial means no
            return False
        return self.row.status != BriefingStatusValue.withdrawn.value


@strawberry.type(description="A published briefing as anyone with its share link sees it: no personal data.")
class SharedBriefing:
    row: strawberry.Private[BriefingRow]
    token: strawberry.Private[str]

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def items(self) -> list[BriefingItem]:
        return _items(self.row)

    @strawberry.field
    def published_at(self) -> datetime | None:
        return as_utc(self.row.published_at) if self.row.published_at else None

    @strawberry.field
    def edited_at(self) -> datetime | None:
        return as_utc(self.row.edited_at) if self.row.edited_at else None

    @strawberry.field
    async def photos(self, info: Info) -> list[BriefingMedia]:
        return [
            m for m in await _media(info, self.row, f"/share/briefings/{self.token}") if m.row.kind == "image"
        ]

    @strawberry.field
    async def video(self, info: Info) -> BriefingMedia | None:
        videos = [
            m for m in await _media(info, self.row, f"/share/briefings/{self.token}") if m.row.kind == "video"
        ]
        return videos[0] if videos else None

    @strawberry.field(description="Community names only.")
    async def community_names(self, info: Info) -> list[str]:
        ids = await info.context.loaders.briefing_audience.load(self.row.id)
        return [c.name for c in await info.context.loaders.community_by_id.load_many(ids) if c]

    @strawberry.field
    async def operator_name(self, info: Info) -> str:
        ids = await info.context.loaders.briefing_audience.load(self.row.id)
        community = await info.context.loaders.community_by_id.load(ids[0]) if ids else None
        district = (
            await info.context.loaders.district_by_id.load(community.district_id) if community else None
        )
        return district.operator_name if district else ""


@strawberry.input
class BriefingItemInput:
    kind: BriefingItemKind  # type: ignore[valid-type]
    text: str


@strawberry.input(description="A briefing as the steward writes it.")
class BriefingInput:
    community_ids: list[strawberry.ID]
    title: str
    body: str = ""
    items: list[BriefingItemInput] = strawberry.field(default_factory=list)
    photo_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Up to 9 uploaded photos."
    )
    video_id: strawberry.ID | None = None


def _draft(data: BriefingInput) -> briefings.BriefingDraft:
    if len(data.community_ids) > 50 or len(data.photo_ids) > 20 or len(data.items) > 100:
        from laoyou.core.errors import ErrorCode, LaoyouError

        raise LaoyouError(ErrorCode.INVALID, "Too many items.", field="input")
    return briefings.BriefingDraft(
        community_ids=[decode_id(c) for c in data.community_ids],
        title=data.title,
        body=data.body,
        items=[(i.kind.value, i.text) for i in data.items],
        photo_ids=[decode_id(p) for p in data.photo_ids],
        video_id=decode_id(data.video_id) if data.video_id else None,
    )


BriefingError = error_type("BriefingError")


@strawberry.type
class BriefingSaved:
    briefing: Briefing


@strawberry.type
class BriefingRead:
    briefing: Briefing
    newly_read: bool


BriefingResult = result_union("BriefingResult", BriefingSaved, BriefingError)
BriefingReadResult = result_union("BriefingReadResult", BriefingRead, BriefingError)


@strawberry.type
class BriefingsQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def briefing(self, info: Info, id: strawberry.ID) -> Briefing:
        context = info.context
        return Briefing(
            row=await briefings.access_briefing(
                context.session, actor=context.actor, briefing_id=decode_id(id)
            )
        )

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Newest first; residents see published ones."
    )
    async def briefings(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Briefing]:
        limit, cursor = page_args(info, first, after)
        page = await briefings.list_briefings(
            info.context.session, actor=info.context.actor, first=limit, after=cursor
        )
        return connection(page, Briefing)

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Published today for the viewer's homes."
    )
    async def todays_briefings(self, info: Info) -> list[Briefing]:
        return [
            Briefing(row=r)
            for r in await briefings.todays_briefings(info.context.session, actor=info.context.actor)
        ]

    @strawberry.field(
        permission_classes=[IsStaff], description="Communities the viewer may post briefings to."
    )
    async def briefing_communities(self, info: Info) -> list[Community]:
        rows = await briefings.steward_communities(info.context.session, actor=info.context.actor)
        return [Community(row=c) for c in rows]

    @strawberry.field(description="Public: a published briefing by its share token.")
    async def shared_briefing(self, info: Info, token: str) -> SharedBriefing:
        row = await briefings.briefing_by_share_token(info.context.session, token=token)
        return SharedBriefing(row=row, token=token)


@strawberry.type
class BriefingsMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff], description="Write a briefing: draft, publish now, or schedule."
    )
    async def create_briefing(
        self,
        info: Info,
        input: BriefingInput,
        mode: BriefingPublishMode = BriefingPublishMode.DRAFT,
        publish_at: datetime | None = None,
    ) -> BriefingResult:
        context = info.context

        async def work() -> BriefingSaved:
            row = await briefings.do_create_briefing(
                context.session,
                actor=context.actor,
                draft=_draft(input),
                mode=mode.value,
                publish_at=publish_at,
            )
            return BriefingSaved(briefing=Briefing(row=row))

        return await mutation_boundary(info, BriefingError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Change a draft, or correct a published briefing (shown as edited).",
    )
    async def update_briefing(
        self,
        info: Info,
        id: strawberry.ID,
        input: BriefingInput,
        mode: BriefingPublishMode | None = None,
        publish_at: datetime | None = None,
    ) -> BriefingResult:
        context = info.context
        briefing_id = decode_id(id)
        await briefings.access_briefing_as_editor(
            context.session, actor=context.actor, briefing_id=briefing_id
        )

        async def work() -> BriefingSaved:
            row = await briefings.do_update_briefing(
                context.session,
                actor=context.actor,
                briefing_id=briefing_id,
                draft=_draft(input),
                mode=mode.value if mode else None,
                publish_at=publish_at,
            )
            return BriefingSaved(briefing=Briefing(row=row))

        return await mutation_boundary(info, BriefingError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def publish_briefing(self, info: Info, id: strawberry.ID) -> BriefingResult:
        context = info.context
        briefing_id = decode_id(id)
        await briefings.access_briefing_as_editor(
            context.session, actor=context.actor, briefing_id=briefing_id
        )

        async def work() -> BriefingSaved:
            row = await briefings.do_publish_briefing(
                context.session, actor=context.actor, briefing_id=briefing_id
            )
            return BriefingSaved(briefing=Briefing(row=row))

        return await mutation_boundary(info, BriefingError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Take a briefing back; residents stop seeing it."
    )
    async def withdraw_briefing(self, info: Info, id: strawberry.ID) -> BriefingResult:
        context = info.context
        briefing_id = decode_id(id)
        await briefings.access_briefing_as_editor(
            context.session, actor=context.actor, briefing_id=briefing_id
        )

        async def work() -> BriefingSaved:
            row = await briefings.do_withdraw_briefing(
                context.session, actor=context.actor, briefing_id=briefing_id
            )
            return BriefingSaved(briefing=Briefing(row=row))

        return await mutation_boundary(info, BriefingError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="The viewer's households have seen it."
    )
    async def mark_briefing_read(self, info: Info, id: strawberry.ID) -> BriefingReadResult:
        context = info.context
        briefing_id = decode_id(id)
        await briefings.access_briefing(context.session, actor=context.actor, briefing_id=briefing_id)

        async def work() -> BriefingRead:
            added = await briefings.do_mark_read(
                context.session, actor=context.actor, briefing_id=briefing_id
            )
            row = await briefings.access_briefing(
                context.session, actor=context.actor, briefing_id=briefing_id
            )
            return BriefingRead(briefing=Briefing(row=row), newly_read=added)

        return await mutation_boundary(info, BriefingError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Say thank you with one tap.")
    async def thank_briefing(self, info: Info, id: strawberry.ID) -> BriefingResult:
        context = info.context
        briefing_id = decode_id(id)
        await briefings.access_briefing(context.session, actor=context.actor, briefing_id=briefing_id)

        async def work() -> BriefingSaved:
            row = await briefings.do_thank(context.session, actor=context.actor, briefing_id=briefing_id)
            return BriefingSaved(briefing=Briefing(row=row))

        return await mutation_boundary(info, BriefingError, work)


@strawberry.type
class BriefingsSubscription:
    @strawberry.subscription(
        description="Published today for the viewer's homes: now, and again when one is published, corrected "
        "or withdrawn."
    )
    async def todays_briefings(self, info: Info) -> AsyncGenerator[list[Briefing], None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        async with listen(context.pubsub, briefings.todays_channels(context.actor)) as wake:
            while True:
                async with Scoped(info) as session:
                    rows = await briefings.todays_briefings(session, actor=context.actor)
                    yield [Briefing(row=r) for r in rows]
                await wake.get()


__all__ = [
    "BriefingsQuery",
    "BriefingsMutation",
    "BriefingsSubscription",
    "Briefing",
    "SharedBriefing",
    "NotFound",
]
