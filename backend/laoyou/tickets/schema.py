"""GraphQL for work orders: reporting, the district board, dispatch, the lifecycle, ratings and figures."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import strawberry

from laoyou.accounts.models import Role
from laoyou.core.errors import NotFound
from laoyou.core.phone import mask_phone, national
from laoyou.core.time import as_utc, utcnow
from laoyou.estates.schema import Community
from laoyou.graphql.context import Info
from laoyou.graphql.errors import Error, mutation_boundary
from laoyou.graphql.live import Scoped, listen
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import Connection, connection, decode_id, encode_id, page_args
from laoyou.media.schema import MediaFile
from laoyou.tickets import models
from laoyou.tickets import service as tickets

WorkOrderKind = strawberry.enum(
    models.Kind, name="WorkOrderKind", description="repair, complaint or suggestion"
)
WorkOrderCategory = strawberry.enum(
    models.Category,
    name="WorkOrderCategory",
    description="What it is about; gas, flooding and lift_trapped are emergencies.",
)
WorkOrderUrgency = strawberry.enum(models.Urgency, name="WorkOrderUrgency")
WorkOrderStatus = strawberry.enum(models.Status, name="WorkOrderStatus")
WorkOrderPlace = strawberry.enum(models.Place, name="WorkOrderPlace")
WorkOrderSource = strawberry.enum(
    models.Source,
    name="WorkOrderSource",
    description="app: the resident; the others: staff logged it on their behalf",
)
WorkOrderAction = strawberry.enum(tickets.Action, name="WorkOrderAction")


@strawberry.type(description="Who reported it. Hidden from field staff when a complaint asks so.")
class WorkOrderReporter:
    name: str
    phone: str = strawberry.field(
        description="In full for the steward, agents and the worker; masked otherwise."
    )


@strawberry.type(description="A staff member named on a work order.")
class WorkOrderStaff:
    id: strawberry.ID
    name: str
    phone: str


@strawberry.type(description="One step of a work order's timeline.")
class WorkOrderEvent:
    row: strawberry.Private[models.WorkOrderEvent]
    hide_actor: strawberry.Private[bool]

    @strawberry.field
    def action(self) -> WorkOrderAction:  # type: ignore[valid-type]
        return tickets.Action(self.row.action)

    @strawberry.field
    def from_status(self) -> WorkOrderStatus | None:  # type: ignore[valid-type]
        return models.Status(self.row.from_status) if self.row.from_status else None

    @strawberry.field
    def to_status(self) -> WorkOrderStatus:  # type: ignore[valid-type]
        return models.Status(self.row.to_status)

    @strawberry.field
    def note(self) -> str:
        return self.row.note

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field(description="Who did it; empty for the system or a hidden author.")
    async def actor_name(self, info: Info) -> str:
        if self.row.actor_id is None or self.hide_actor:
            return ""
        person = await info.context.loaders.ticket_person_by_id.load(self.row.actor_id)
        return person.name if person else ""


@dataclass
class Prefetched:
    """What a list's rows refer to, fetched in one batch per table when the list is made, so that the rows'
    fields answer from memory (plain sync resolvers) instead of one awaited loader call per row and field."""

    communities: dict[int, Any] = field(default_factory=dict)
    people: dict[int, Any] = field(default_factory=dict)
    addresses: dict[int, str] = field(default_factory=dict)  # household id: "building unit"
    now: datetime = field(default_factory=utcnow)  # every line of a list is judged overdue at the same moment


async def prefetch(
    info: Info, rows: list[models.WorkOrder], known: tickets.BoardPage | None = None
) -> Prefetched:
    """Communities, assignees and flat addresses of the rows, through the request's loaders (which stay primed).
    What the list's own query brought (`known`) is used as it is, not fetched again; the lines' fields look
    here before they ask a loader."""
    found = Prefetched()
    if known is not None:
        found.communities, found.people = known.communities, known.assignees
    community_ids = sorted({r.community_id for r in rows} - found.communities.keys())
    people_ids = sorted({r.assignee_id for r in rows if r.assignee_id is not None} - found.people.keys())
    household_ids = sorted(
        {
            r.household_id
            for r in rows
            if r.household_id and r.place == models.Place.unit and not r.hide_author
        }
    )
    if not (community_ids or people_ids or household_ids):
        return found  # the board's own statement brought them all
    loaders = info.context.loaders
    if community_ids:
        found.communities.update(
            zip(community_ids, await loaders.community_by_id.load_many(community_ids), strict=True)
        )
    if people_ids:
        found.people.update(
            zip(people_ids, await loaders.ticket_person_by_id.load_many(people_ids), strict=True)
        )
    if household_ids:
        households = [h for h in await loaders.household_by_id.load_many(household_ids) if h is not None]
        units = {
            u.id: u for u in await loaders.unit_by_id.load_many(sorted({h.unit_id for h in households})) if u
        }
        buildings = {
            b.id: b
            for b in await loaders.building_by_id.load_many(sorted({u.building_id for u in units.values()}))
            if b
        }
        for household in households:
            unit = units.get(household.unit_id)
            building = buildings.get(unit.building_id) if unit else None
            if unit and building:
                found.addresses[household.id] = f"{building.name} {unit.number}"
    return found


async def work_orders(info: Info, rows: list[models.WorkOrder]) -> list[WorkOrder]:
    pre = await prefetch(info, rows)
    return [WorkOrder(row=r, pre=pre) for r in rows]


@strawberry.type(description="A repair report, complaint or suggestion and its handling.")
class WorkOrder:
    # A loaded entity, or a board line (models.WorkOrderRow), which reads the same and is never changed here.
    row: strawberry.Private[models.WorkOrder]
    pre: strawberry.Private[Prefetched | None] = None

    async def _roles(self, info: Info) -> set[Role]:
        # What the list brought, else through the loader: sibling fields resolve concurrently and must not share
        # the session directly.
        community = self.pre.communities.get(self.row.community_id) if self.pre is not None else None
        if community is None:
            community = await info.context.loaders.community_by_id.load(self.row.community_id)
        return await tickets.staff_roles_for(info.context.session, info.context.actor, self.row, community)

    async def _hidden(self, info: Info) -> bool:
        if not self.row.hide_author:
            return False
        return await tickets.author_hidden(
            info.context.session, info.context.actor, self.row, await self._roles(info)
        )

    # Plain values of the row: methods of the object alone, which the execution context answers directly
    # (graphql/execution.py), each only when asked (the board shows 20 to 30 rows of a dozen of them).
    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def kind(self) -> WorkOrderKind:  # type: ignore[valid-type]
        return models.Kind(self.row.kind)

    @strawberry.field
    def category(self) -> WorkOrderCategory:  # type: ignore[valid-type]
        return models.Category(self.row.category)

    @strawberry.field
    def is_emergency(self) -> bool:
        return tickets.is_emergency(self.row)

    @strawberry.field
    def urgency(self) -> WorkOrderUrgency:  # type: ignore[valid-type]
        return models.Urgency(self.row.urgency)

    @strawberry.field
    def status(self) -> WorkOrderStatus:  # type: ignore[valid-type]
        return models.Status(self.row.status)

    @strawberry.field
    def place(self) -> WorkOrderPlace:  # type: ignore[valid-type]
        return models.Place(self.row.place)

    @strawberry.field
    def source(self) -> WorkOrderSource:  # type: ignore[valid-type]
        return models.Source(self.row.source)

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    def _r_where(self, info: Info) -> str:
        # Answered from memory when it can be (no flat, or the list prefetched it); awaited otherwise.
        row = self.row
        if not (row.household_id and row.place == models.Place.unit):
            return row.place_note
        if self.pre is not None and row.household_id in self.pre.addresses:
            return " · ".join(p for p in (self.pre.addresses[row.household_id], row.place_note) if p)
        return self._where(info)  # type: ignore[return-value]

    where: str = strawberry.field(
        resolver=_r_where,
        description="Where: the flat's address (unless the author is hidden from the viewer) or the place.",
    )

    async def _where(self, info: Info) -> str:
        parts = []
        if self.row.household_id and self.row.place == models.Place.unit and not await self._hidden(info):
            loaders = info.context.loaders
            household = await loaders.household_by_id.load(self.row.household_id)
            unit = await loaders.unit_by_id.load(household.unit_id)
            building = await loaders.building_by_id.load(unit.building_id)
            parts.append(f"{building.name} {unit.number}")
        if self.row.place_note:
            parts.append(self.row.place_note)
        return " · ".join(parts)

    def _r_community(self, info: Info) -> Community:
        if self.pre is not None and self.row.community_id in self.pre.communities:
            return Community(row=self.pre.communities[self.row.community_id])
        return self._community(info)  # type: ignore[return-value]

    community: Community = strawberry.field(resolver=_r_community)

    async def _community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    async def _r_author_hidden(self, info: Info) -> bool:
        return await self._hidden(info)

    author_hidden: bool = strawberry.field(
        resolver=_r_author_hidden, description="True when the viewer may not know who reported it."
    )

    async def _r_reporter(self, info: Info) -> WorkOrderReporter | None:
        if await self._hidden(info):
            return None
        full = await tickets.sees_reporter_phone(info.context.actor, self.row, lambda: self._roles(info))
        phone = self.row.reporter_phone
        return WorkOrderReporter(
            name=self.row.reporter_name,
            phone=(national(phone) if full else mask_phone(phone)) if phone else "",
        )

    reporter: WorkOrderReporter | None = strawberry.field(resolver=_r_reporter)

    def _r_assignee(self, info: Info) -> WorkOrderStaff | None:
        if self.row.assignee_id is None:
            return None
        if self.pre is not None and self.row.assignee_id in self.pre.people:
            return _staff(self.pre.people[self.row.assignee_id])
        return self._assignee(info)  # type: ignore[return-value]

    assignee: WorkOrderStaff | None = strawberry.field(resolver=_r_assignee)

    async def _assignee(self, info: Info) -> WorkOrderStaff | None:
        return _staff(await info.context.loaders.ticket_person_by_id.load(self.row.assignee_id))

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def response_due_at(self) -> datetime:
        return as_utc(self.row.response_due_at)

    @strawberry.field
    def completion_due_at(self) -> datetime:
        return as_utc(self.row.completion_due_at)

    @strawberry.field
    def done_at(self) -> datetime | None:
        return as_utc(self.row.done_at) if self.row.done_at else None

    @strawberry.field
    def overdue(self) -> bool:
        return tickets.is_overdue(self.row, self.pre.now if self.pre is not None else None)

    @strawberry.field(description="0: on time; 1: the steward was alerted; 2: the district manager.")
    def escalation_level(self) -> int:
        return self.row.escalation_level

    @strawberry.field
    def rating(self) -> int | None:
        return self.row.rating

    @strawberry.field
    def rating_comment(self) -> str:
        return self.row.rating_comment

    @strawberry.field
    def reopen_count(self) -> int:
        return self.row.reopen_count

    @strawberry.field(description="A return visit (回访) is due and not yet made.")
    def return_visit_due_at(self) -> datetime | None:
        due, done = self.row.return_visit_due_at, self.row.return_visit_done_at
        return as_utc(due) if due is not None and done is None else None

    async def _r_photos(self, info: Info) -> list[MediaFile]:
        hidden = await self._hidden(info)
        found = await info.context.loaders.work_order_attachments.load(self.row.id)
        return [
            MediaFile(row=m) for a, m in found if m.kind == "image" and not (hidden and a.stage == "report")
        ]

    photos: list[MediaFile] = strawberry.field(
        resolver=_r_photos, description="Photos (report and work) in the order they were added."
    )

    async def _r_voice_note(self, info: Info) -> MediaFile | None:
        if await self._hidden(info):
            return None
        found = await info.context.loaders.work_order_attachments.load(self.row.id)
        return next((MediaFile(row=m) for _, m in found if m.kind == "audio"), None)

    voice_note: MediaFile | None = strawberry.field(resolver=_r_voice_note)

    async def _r_timeline(self, info: Info) -> list[WorkOrderEvent]:
        hidden = await self._hidden(info)
        events = await info.context.loaders.work_order_events.load(self.row.id)
        return [
            WorkOrderEvent(
                row=e, hide_actor=hidden and e.actor_id in (self.row.reporter_id, self.row.created_by_id)
            )
            for e in events
        ]

    timeline: list[WorkOrderEvent] = strawberry.field(
        resolver=_r_timeline, description="Every change, oldest first: the resident's timeline."
    )

    async def _r_allowed_actions(self, info: Info) -> list[WorkOrderAction]:  # type: ignore[valid-type]
        return tickets.allowed_actions(self.row, actor=info.context.actor, roles=await self._roles(info))

    allowed_actions: list[WorkOrderAction] = strawberry.field(  # type: ignore[valid-type]
        resolver=_r_allowed_actions, description="What the viewer may do now."
    )


def _staff(person: Any) -> WorkOrderStaff:
    return WorkOrderStaff(id=encode_id(person.id), name=person.name, phone=national(person.phone))


@strawberry.type(description="A field worker: skills, communities covered, open work orders now.")
class FieldStaff:
    id: strawberry.ID
    name: str
    phone: str
    skills: list[str]
    community_ids: list[strawberry.ID]
    on_duty: bool
    open_work_orders: int


@strawberry.type
class CategoryCount:
    category: WorkOrderCategory  # type: ignore[valid-type]
    count: int


@strawberry.type(description="Figures for a district or one community over a period.")
class WorkOrderFigures:
    days: int
    total: int
    by_category: list[CategoryCount]
    avg_response_minutes: float | None
    p90_response_minutes: float | None
    avg_completion_minutes: float | None
    p90_completion_minutes: float | None
    sla_compliance: float | None = strawberry.field(description="Share finished within the completion time.")
    satisfaction: float | None = strawberry.field(description="Average rating, 1 to 5.")
    rated: int
    reopen_rate: float | None
    overdue_open: int


@strawberry.input
class ReportProblemInput:
    client_id: str = strawberry.field(
        description="Made by the client; the same id never makes a second work order."
    )
    category: WorkOrderCategory  # type: ignore[valid-type]
    kind: WorkOrderKind = models.Kind.repair  # type: ignore[valid-type]
    urgency: WorkOrderUrgency = models.Urgency.normal  # type: ignore[valid-type]
    place: WorkOrderPlace = models.Place.unit  # type: ignore[valid-type]
    household_id: strawberry.ID | None = None
    community_id: strawberry.ID | None = strawberry.field(default=None, description="Staff logging a report")
    place_note: str = ""
    description: str = ""
    photo_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Uploaded with POST /media"
    )
    voice_id: strawberry.ID | None = None
    hide_author: bool = strawberry.field(default=False, description="Complaints: field staff never see who")
    source: WorkOrderSource = models.Source.app  # type: ignore[valid-type]
    reporter_name: str = ""
    reporter_phone: str = ""


@strawberry.type
class WorkOrderReported:
    work_order: WorkOrder
    created: bool = strawberry.field(description="False when this submission had already arrived.")


@strawberry.type
class WorkOrderChanged:
    work_order: WorkOrder


@strawberry.type
class StaffProfileSaved:
    person_id: strawberry.ID


@strawberry.type
class ReportProblemError(Error):
    pass


@strawberry.type
class AssignWorkOrderError(Error):
    pass


@strawberry.type
class GrabWorkOrderError(Error):
    pass


@strawberry.type
class AcceptWorkOrderError(Error):
    pass


@strawberry.type
class TransferWorkOrderError(Error):
    pass


@strawberry.type
class StartWorkOrderError(Error):
    pass


@strawberry.type
class FinishWorkOrderError(Error):
    pass


@strawberry.type
class AddWorkOrderNoteError(Error):
    pass


@strawberry.type
class ConfirmWorkOrderError(Error):
    pass


@strawberry.type
class ReopenWorkOrderError(Error):
    pass


@strawberry.type
class CancelWorkOrderError(Error):
    pass


@strawberry.type
class EscalateWorkOrderError(Error):
    pass


@strawberry.type
class RecordReturnVisitError(Error):
    pass


@strawberry.type
class SaveStaffProfileError(Error):
    pass


def _ids(values: list[strawberry.ID] | None) -> list[int]:
    return [decode_id(v) for v in values or []]


async def _boundary(info: Info, error_type: type[Error], work: Callable[[], Awaitable[object]]):  # noqa: ANN202
    result = await mutation_boundary(info, error_type, work)
    # The commit gave the connection back; take one now, before the payload's fields resolve side by side.
    await info.context.session.connection()
    return result


async def _change(info: Info, error_type: type[Error], work: Callable[[], Awaitable[models.WorkOrder]]):  # noqa: ANN202
    async def run() -> WorkOrderChanged:
        return WorkOrderChanged(work_order=WorkOrder(row=await work()))

    return await _boundary(info, error_type, run)


async def _connection(info: Info, page: Any) -> Connection[WorkOrder]:
    pre = await prefetch(info, list(page.items), page if isinstance(page, tickets.BoardPage) else None)
    return connection(page, lambda row: WorkOrder(row=row, pre=pre))


@strawberry.type
class TicketsQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def work_order(self, info: Info, id: strawberry.ID) -> WorkOrder:
        row = await tickets.access_work_order(
            info.context.session, actor=info.context.actor, order_id=decode_id(id)
        )
        return WorkOrder(row=row)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="What I reported, and what was reported for my households.",
    )
    async def my_work_orders(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WorkOrder]:
        limit, cursor = page_args(info, first, after)
        page = await tickets.list_mine(
            info.context.session, actor=info.context.actor, first=limit, after=cursor
        )
        return await _connection(info, page)

    @strawberry.field(
        permission_classes=[IsStaff],
        description="The district board (一盘棋): open orders by default, newest first.",
    )
    async def work_order_board(
        self,
        info: Info,
        district_id: strawberry.ID,
        status: WorkOrderStatus | None = None,  # type: ignore[valid-type]
        category: WorkOrderCategory | None = None,
        community_id: strawberry.ID | None = None,  # type: ignore[valid-type]
        kind: WorkOrderKind | None = None,
        overdue_only: bool = False,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WorkOrder]:
        limit, cursor = page_args(info, first, after)
        flt = tickets.BoardFilter(
            district_id=decode_id(district_id),
            status=status.value if status else None,
            category=category.value if category else None,
            community_id=decode_id(community_id) if community_id else None,
            kind=kind.value if kind else None,
            overdue_only=overdue_only,
        )
        page = await tickets.list_board(
            info.context.session, actor=info.context.actor, flt=flt, first=limit, after=cursor
        )
        return await _connection(info, page)

    @strawberry.field(permission_classes=[IsStaff], description="Open work orders assigned to me.")
    async def my_work_queue(self, info: Info, first: int | None = None) -> list[WorkOrder]:
        limit, _ = page_args(info, first, None)
        return await work_orders(
            info, await tickets.list_my_queue(info.context.session, actor=info.context.actor, first=limit)
        )

    @strawberry.field(
        permission_classes=[IsStaff], description="Unassigned repairs in my district that I may grab."
    )
    async def work_order_pool(self, info: Info, first: int | None = None) -> list[WorkOrder]:
        limit, _ = page_args(info, first, None)
        return await work_orders(
            info, await tickets.list_pool(info.context.session, actor=info.context.actor, first=limit)
        )

    @strawberry.field(
        permission_classes=[IsStaff], description="Complaints whose return visit (回访) is due."
    )
    async def return_visits_due(
        self, info: Info, district_id: strawberry.ID, first: int | None = None
    ) -> list[WorkOrder]:
        limit, _ = page_args(info, first, None)
        rows = await tickets.list_return_visits(
            info.context.session, actor=info.context.actor, district_id=decode_id(district_id), first=limit
        )
        return await work_orders(info, rows)

    @strawberry.field(
        permission_classes=[IsStaff], description="The district's field staff with their load, for assigning."
    )
    async def field_staff(self, info: Info, district_id: strawberry.ID) -> list[FieldStaff]:
        rows = await tickets.list_field_staff(
            info.context.session, actor=info.context.actor, district_id=decode_id(district_id)
        )
        return [
            FieldStaff(
                id=encode_id(person.id),
                name=person.name,
                phone=national(person.phone),
                skills=list(profile.skills),
                community_ids=[encode_id(c) for c in profile.community_ids],
                on_duty=profile.on_duty,
                open_work_orders=load,
            )
            for profile, person, load in rows
        ]

    @strawberry.field(permission_classes=[IsStaff])
    async def work_order_figures(
        self,
        info: Info,
        district_id: strawberry.ID,
        community_id: strawberry.ID | None = None,
        days: Annotated[int, strawberry.argument(description="The period: the last N days (1 to 366)")] = 30,
    ) -> WorkOrderFigures:
        days = min(max(days, 1), 366)
        since, until = tickets.period_bounds(days)
        f = await tickets.figures(
            info.context.session,
            actor=info.context.actor,
            district_id=decode_id(district_id),
            community_id=decode_id(community_id) if community_id else None,
            since=since,
            until=until,
        )
        return WorkOrderFigures(
            days=days,
            total=f.total,
            by_category=[
                CategoryCount(category=models.Category(c), count=n) for c, n in f.by_category.items()
            ],
            avg_response_minutes=f.avg_response_minutes,
            p90_response_minutes=f.p90_response_minutes,
            avg_completion_minutes=f.avg_completion_minutes,
            p90_completion_minutes=f.p90_completion_minutes,
            sla_compliance=f.sla_compliance,
            satisfaction=f.satisfaction,
            rated=f.rated,
            reopen_rate=f.reopen_rate,
            overdue_open=f.overdue_open,
        )


ReportProblemResult = Annotated[
    WorkOrderReported | ReportProblemError, strawberry.union("ReportProblemResult")
]
AssignWorkOrderResult = Annotated[
    WorkOrderChanged | AssignWorkOrderError, strawberry.union("AssignWorkOrderResult")
]
GrabWorkOrderResult = Annotated[
    WorkOrderChanged | GrabWorkOrderError, strawberry.union("GrabWorkOrderResult")
]
AcceptWorkOrderResult = Annotated[
    WorkOrderChanged | AcceptWorkOrderError, strawberry.union("AcceptWorkOrderResult")
]
TransferWorkOrderResult = Annotated[
    WorkOrderChanged | TransferWorkOrderError, strawberry.union("TransferWorkOrderResult")
]
StartWorkOrderResult = Annotated[
    WorkOrderChanged | StartWorkOrderError, strawberry.union("StartWorkOrderResult")
]
FinishWorkOrderResult = Annotated[
    WorkOrderChanged | FinishWorkOrderError, strawberry.union("FinishWorkOrderResult")
]
AddWorkOrderNoteResult = Annotated[
    WorkOrderChanged | AddWorkOrderNoteError, strawberry.union("AddWorkOrderNoteResult")
]
ConfirmWorkOrderResult = Annotated[
    WorkOrderChanged | ConfirmWorkOrderError, strawberry.union("ConfirmWorkOrderResult")
]
ReopenWorkOrderResult = Annotated[
    WorkOrderChanged | ReopenWorkOrderError, strawberry.union("ReopenWorkOrderResult")
]
CancelWorkOrderResult = Annotated[
    WorkOrderChanged | CancelWorkOrderError, strawberry.union("CancelWorkOrderResult")
]
EscalateWorkOrderResult = Annotated[
    WorkOrderChanged | EscalateWorkOrderError, strawberry.union("EscalateWorkOrderResult")
]
RecordReturnVisitResult = Annotated[
    WorkOrderChanged | RecordReturnVisitError, strawberry.union("RecordReturnVisitResult")
]
SaveStaffProfileResult = Annotated[
    StaffProfileSaved | SaveStaffProfileError, strawberry.union("SaveStaffProfileResult")
]


@strawberry.type
class TicketsMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Report a repair or file a complaint or suggestion; staff log one on a resident's behalf.",
    )
    async def report_problem(self, info: Info, input: ReportProblemInput) -> ReportProblemResult:
        context = info.context

        async def work() -> WorkOrderReported:
            data = tickets.ReportInput(
                client_id=input.client_id,
                category=input.category.value,
                kind=input.kind.value,
                urgency=input.urgency.value,
                place=input.place.value,
                household_id=decode_id(input.household_id) if input.household_id else None,
                community_id=decode_id(input.community_id) if input.community_id else None,
                place_note=input.place_note,
                description=input.description,
                photo_ids=_ids(input.photo_ids),
                voice_id=decode_id(input.voice_id) if input.voice_id else None,
                hide_author=input.hide_author,
                source=input.source.value,
                reporter_name=input.reporter_name,
                reporter_phone=input.reporter_phone,
            )
            reported = await tickets.do_report(context.session, actor=context.actor, data=data)
            return WorkOrderReported(work_order=WorkOrder(row=reported.order), created=reported.created)

        return await _boundary(info, ReportProblemError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="A steward assigns or reassigns (with a reason); without assigneeId the dispatcher chooses.",
    )
    async def assign_work_order(
        self, info: Info, id: strawberry.ID, assignee_id: strawberry.ID | None = None, note: str = ""
    ) -> AssignWorkOrderResult:
        c = info.context
        return await _change(
            info,
            AssignWorkOrderError,
            lambda: tickets.do_assign(
                c.session,
                actor=c.actor,
                order_id=decode_id(id),
                assignee_id=decode_id(assignee_id) if assignee_id else None,
                note=note,
            ),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Take an unassigned work order from the pool."
    )
    async def grab_work_order(self, info: Info, id: strawberry.ID) -> GrabWorkOrderResult:
        c = info.context
        return await _change(
            info,
            GrabWorkOrderError,
            lambda: tickets.do_grab(c.session, actor=c.actor, order_id=decode_id(id)),
        )

    @strawberry.mutation(permission_classes=[IsStaff])
    async def accept_work_order(self, info: Info, id: strawberry.ID) -> AcceptWorkOrderResult:
        c = info.context
        return await _change(
            info,
            AcceptWorkOrderError,
            lambda: tickets.do_accept(c.session, actor=c.actor, order_id=decode_id(id)),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Hand it to a colleague, or back to the pool without assigneeId; with a reason.",
    )
    async def transfer_work_order(
        self, info: Info, id: strawberry.ID, note: str, assignee_id: strawberry.ID | None = None
    ) -> TransferWorkOrderResult:
        c = info.context
        return await _change(
            info,
            TransferWorkOrderError,
            lambda: tickets.do_transfer(
                c.session,
                actor=c.actor,
                order_id=decode_id(id),
                assignee_id=decode_id(assignee_id) if assignee_id else None,
                note=note,
            ),
        )

    @strawberry.mutation(permission_classes=[IsStaff])
    async def start_work_order(self, info: Info, id: strawberry.ID) -> StartWorkOrderResult:
        c = info.context
        return await _change(
            info,
            StartWorkOrderError,
            lambda: tickets.do_start(c.session, actor=c.actor, order_id=decode_id(id)),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Mark done, with a note and photos of the work."
    )
    async def finish_work_order(
        self, info: Info, id: strawberry.ID, note: str = "", photo_ids: list[strawberry.ID] | None = None
    ) -> FinishWorkOrderResult:
        c = info.context
        return await _change(
            info,
            FinishWorkOrderError,
            lambda: tickets.do_finish(
                c.session, actor=c.actor, order_id=decode_id(id), note=note, photo_ids=_ids(photo_ids)
            ),
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def add_work_order_note(
        self, info: Info, id: strawberry.ID, note: str = "", photo_ids: list[strawberry.ID] | None = None
    ) -> AddWorkOrderNoteResult:
        c = info.context
        return await _change(
            info,
            AddWorkOrderNoteError,
            lambda: tickets.do_add_note(
                c.session, actor=c.actor, order_id=decode_id(id), note=note, photo_ids=_ids(photo_ids)
            ),
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="The resident confirms it is fixed and rates 1 to 5.",
    )
    async def confirm_work_order(
        self, info: Info, id: strawberry.ID, rating: int, comment: str = ""
    ) -> ConfirmWorkOrderResult:
        c = info.context
        return await _change(
            info,
            ConfirmWorkOrderError,
            lambda: tickets.do_confirm(
                c.session, actor=c.actor, order_id=decode_id(id), rating=rating, comment=comment
            ),
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Not fixed after all.")
    async def reopen_work_order(self, info: Info, id: strawberry.ID, note: str) -> ReopenWorkOrderResult:
        c = info.context
        return await _change(
            info,
            ReopenWorkOrderError,
            lambda: tickets.do_reopen(c.session, actor=c.actor, order_id=decode_id(id), note=note),
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def cancel_work_order(self, info: Info, id: strawberry.ID, note: str = "") -> CancelWorkOrderResult:
        c = info.context
        return await _change(
            info,
            CancelWorkOrderError,
            lambda: tickets.do_cancel(c.session, actor=c.actor, order_id=decode_id(id), note=note),
        )

    @strawberry.mutation(permission_classes=[IsStaff], description="Send it up to the district manager.")
    async def escalate_work_order(self, info: Info, id: strawberry.ID, note: str) -> EscalateWorkOrderResult:
        c = info.context
        return await _change(
            info,
            EscalateWorkOrderError,
            lambda: tickets.do_escalate(c.session, actor=c.actor, order_id=decode_id(id), note=note),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Record the return visit (回访) of a complaint."
    )
    async def record_return_visit(self, info: Info, id: strawberry.ID, note: str) -> RecordReturnVisitResult:
        c = info.context
        return await _change(
            info,
            RecordReturnVisitError,
            lambda: tickets.do_record_return_visit(
                c.session, actor=c.actor, order_id=decode_id(id), note=note
            ),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Skills and communities of a field worker."
    )
    async def save_staff_profile(
        self,
        info: Info,
        person_id: strawberry.ID,
        skills: list[str],
        community_ids: list[strawberry.ID],
        on_duty: bool = True,
    ) -> SaveStaffProfileResult:
        c = info.context

        async def work() -> StaffProfileSaved:
            profile = await tickets.do_save_staff_profile(
                c.session,
                actor=c.actor,
                person_id=decode_id(person_id),
                skills=skills[:20],
                community_ids=_ids(community_ids[:100]),
                on_duty=on_duty,
            )
            return StaffProfileSaved(person_id=encode_id(profile.person_id))

        return await mutation_boundary(info, SaveStaffProfileError, work)


@strawberry.type
class TicketsSubscription:
    @strawberry.subscription(
        description="One work order now and after each step on it (a state change, a note, photos), for those "
        "who may see it."
    )
    async def work_order(self, info: Info, id: strawberry.ID) -> AsyncGenerator[WorkOrder, None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        order_id = decode_id(id)
        async with Scoped(info) as session:
            await tickets.access_work_order(session, actor=context.actor, order_id=order_id)
        async with listen(context.pubsub, [tickets.work_order_channel(order_id)]) as wake:
            while True:
                # Asked again each time: who may see an order can change (a transfer takes it from a worker).
                async with Scoped(info) as session:
                    row = await tickets.access_work_order(session, actor=context.actor, order_id=order_id)
                    yield WorkOrder(row=row)
                await wake.get()
