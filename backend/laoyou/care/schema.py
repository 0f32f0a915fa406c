"""GraphQL for care: the ledger (stewards of the community; the resident her own) and the daily check-in."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from laoyou.care.checkins import service as checkins
from laoyou.care.checkins.models import CheckinPlan as CheckinPlanRow
from laoyou.care.checkins.models import How, Outcome
from laoyou.care.ledger import service as ledger
from laoyou.care.ledger.models import CareRecord as CareRecordRow
from laoyou.care.ledger.models import CareVisit as CareVisitRow
from laoyou.care.ledger.models import Finding, Living, Mobility
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id

CareLiving = strawberry.enum(Enum("CareLiving", {m.name.upper(): m.value for m in Living}))
CareMobility = strawberry.enum(Enum("CareMobility", {m.name.upper(): m.value for m in Mobility}))
CareFinding = strawberry.enum(Enum("CareFinding", {m.name.upper(): m.value for m in Finding}))
CheckinOutcome = strawberry.enum(Enum("CheckinOutcome", {m.name.upper(): m.value for m in Outcome}))
CheckinHow = strawberry.enum(
    Enum("CheckinHow", {m.name.upper(): m.value for m in (How.button, How.push, How.app, How.family)})
)


@strawberry.enum
class CheckinStatus(Enum):
    PENDING = "pending"  # today's window has not closed
    CHECKED_IN = "checked_in"
    MISSED = "missed"  # nobody has taken it yet
    HANDLING = "handling"  # a steward said she handles it
    RESOLVED = "resolved"  # confirmed after a miss
    PAUSED = "paused"


@strawberry.type(description="An emergency contact: family following the home first.")
class CareContact:
    name: str
    phone: str
    relation: str


@strawberry.type
class CareVisit:
    row: strawberry.Private[CareVisitRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def visited_on(self) -> date:
        return self.row.visited_on

    @strawberry.field
    async def visitor_name(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.visitor_id)
        return person.name if person else ""

    @strawberry.field
    def finding(self) -> CareFinding:  # type: ignore[valid-type]
        return CareFinding(self.row.finding)

    @strawberry.field
    def note(self) -> str:
        return self.row.note

    @strawberry.field
    def follow_up(self) -> str:
        return self.row.follow_up

    @strawberry.field(description="The work order the follow-up became, if it did.")
    def work_order_id(self) -> strawberry.ID | None:
        return encode_id(self.row.work_order_id) if self.row.work_order_id else None


@strawberry.type(
    description="A resident's care record (sensitive): for her community's stewards, and for her."
)
class CareRecord:
    row: strawberry.Private[CareRecordRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    async def resident_name(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.resident_id)
        return person.name if person else ""

    @strawberry.field
    def resident_id(self) -> strawberry.ID:
        return encode_id(self.row.resident_id)

    @strawberry.field
    def household_id(self) -> strawberry.ID:
        return encode_id(self.row.household_id)

    @strawberry.field
    def living(self) -> CareLiving:  # type: ignore[valid-type]
        return CareLiving(self.row.living)

    @strawberry.field
    def mobility(self) -> CareMobility:  # type: ignore[valid-type]
        return CareMobility(self.row.mobility)

    @strawberry.field(
        description="Picked needs: hearing, sight, memory, medication, meals, stairs, shopping."
    )
    def needs(self) -> list[str]:
        return [n for n in self.row.needs.split(",") if n]

    @strawberry.field(description="Preferred visit times: morning, afternoon, evening.")
    def visit_times(self) -> list[str]:
        return [t for t in self.row.visit_times.split(",") if t]

    @strawberry.field
    async def contacts(self, info: Info) -> list[CareContact]:
        found = await ledger.contacts(info.context.session, self.row)
        return [CareContact(name=c.name, phone=c.phone, relation=c.relation) for c in found]

    @strawberry.field(
        description="phone (she tapped consent) or paper (signed; the steward keeps its photo)."
    )
    def consent_method(self) -> str:
        return self.row.consent_method

    @strawberry.field
    def consent_at(self) -> datetime:
        return self.row.consent_at

    @strawberry.field
    async def consent_by_name(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.consent_by_id)
        return person.name if person else ""

    @strawberry.field
    def consent_photo_id(self) -> strawberry.ID | None:
        return encode_id(self.row.consent_photo_id) if self.row.consent_photo_id else None

    @strawberry.field
    def withdrawn_at(self) -> datetime | None:
        return self.row.withdrawn_at

    @strawberry.field
    async def visits(self, info: Info) -> list[CareVisit]:
        return [CareVisit(row=v) for v in await ledger.visits(info.context.session, self.row)]


@strawberry.type
class CheckinPlan:
    row: strawberry.Private[CheckinPlanRow]

    @strawberry.field(description="Minutes after local midnight (Asia/Shanghai) by which she checks in.")
    def window_end(self) -> int:
        return self.row.window_end

    @strawberry.field(description="The window as local HH:MM.")
    def window(self) -> str:
        return checkins.window_text(self.row.window_end)

    @strawberry.field
    def active(self) -> bool:
        return self.row.active

    @strawberry.field(description="The last local day of a pause, inclusive.")
    def paused_until(self) -> date | None:
        return self.row.paused_until


@strawberry.type(description="One resident's check-in today, as the steward's board or her family see it.")
class CheckinLine:
    line: strawberry.Private[checkins.BoardLine]

    @strawberry.field(description="Today's row, once there is one: what the steward acts on.")
    def day_id(self) -> strawberry.ID | None:
        return encode_id(self.line.day.id) if self.line.day else None

    @strawberry.field
    def resident_id(self) -> strawberry.ID:
        return encode_id(self.line.resident.id)

    @strawberry.field
    def resident_name(self) -> str:
        return self.line.resident.name

    @strawberry.field
    def resident_phone(self) -> str:
        return self.line.resident.phone

    @strawberry.field
    def window(self) -> str:
        return checkins.window_text(self.line.plan.window_end)

    @strawberry.field
    def status(self) -> CheckinStatus:
        return CheckinStatus(self.line.status)

    @strawberry.field
    def checked_in_at(self) -> datetime | None:
        return self.line.day.checked_in_at if self.line.day else None

    @strawberry.field
    def missed_at(self) -> datetime | None:
        return self.line.day.missed_at if self.line.day else None

    @strawberry.field(description="Who said she handles it; everyone sees it.")
    def handler_name(self) -> str | None:
        return self.line.handler.name if self.line.handler else None

    @strawberry.field
    def outcome(self) -> CheckinOutcome | None:  # type: ignore[valid-type]
        return CheckinOutcome(self.line.day.outcome) if self.line.day and self.line.day.outcome else None


@strawberry.type(description="The resident's own check-in: her plan and today.")
class MyCheckin:
    plan: CheckinPlan | None
    status: CheckinStatus | None


@strawberry.input
class CareRecordInput:
    living: CareLiving  # type: ignore[valid-type]
    mobility: CareMobility  # type: ignore[valid-type]
    needs: list[str]
    visit_times: list[str]
    contact_name: str = ""
    contact_phone: str = ""


@strawberry.type
class CareRecordSaved:
    record: CareRecord


@strawberry.type
class CareVisitSaved:
    visit: CareVisit


@strawberry.type
class CheckinPlanSaved:
    plan: CheckinPlan


@strawberry.type
class CheckedIn:
    status: CheckinStatus | None


@strawberry.type
class CheckinHandled:
    status: CheckinStatus
    handler_name: str | None


CareConsentError = error_type("CareConsentError")
CareConsentResult = result_union("CareConsentResult", CareRecordSaved, CareConsentError)
CareRecordError = error_type("CareRecordError")
CareRecordResult = result_union("CareRecordResult", CareRecordSaved, CareRecordError)
CareVisitError = error_type("CareVisitError")
CareVisitResult = result_union("CareVisitResult", CareVisitSaved, CareVisitError)
CheckinPlanError = error_type("CheckinPlanError")
CheckinPlanResult = result_union("CheckinPlanResult", CheckinPlanSaved, CheckinPlanError)
CheckInError = error_type("CheckInError")
CheckInResult = result_union("CheckInResult", CheckedIn, CheckInError)
CheckinHandleError = error_type("CheckinHandleError")
CheckinHandleResult = result_union("CheckinHandleResult", CheckinHandled, CheckinHandleError)


@strawberry.type
class CareQuery:
    @strawberry.field(
        permission_classes=[IsStaff], description="Consented records of the steward's communities."
    )
    async def care_records(self, info: Info, community_id: strawberry.ID | None = None) -> list[CareRecord]:
        context = info.context
        rows = await ledger.list_records(
            context.session,
            actor=context.actor,
            community_id=decode_id(community_id) if community_id is not None else None,
        )
        return [CareRecord(row=row) for row in rows]

    @strawberry.field(permission_classes=[IsStaff])
    async def care_record(self, info: Info, id: strawberry.ID) -> CareRecord:
        context = info.context
        return CareRecord(
            row=await ledger.access_record_as_staff(
                context.session, actor=context.actor, record_id=decode_id(id)
            )
        )

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="The resident's own record, to see and export."
    )
    async def my_care_record(self, info: Info) -> CareRecord | None:
        context = info.context
        row = await ledger.my_record(context.session, actor=context.actor)
        return CareRecord(row=row) if row else None

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def my_checkin(self, info: Info) -> MyCheckin:
        context = info.context
        plan, status = await checkins.my_today(context.session, actor=context.actor)
        return MyCheckin(
            plan=CheckinPlan(row=plan) if plan else None, status=CheckinStatus(status) if status else None
        )

    @strawberry.field(
        permission_classes=[IsStaff], description="Today's check-ins, those needing someone first."
    )
    async def checkin_board(self, info: Info, community_id: strawberry.ID | None = None) -> list[CheckinLine]:
        context = info.context
        lines = await checkins.board(
            context.session,
            actor=context.actor,
            community_id=decode_id(community_id) if community_id is not None else None,
        )
        return [CheckinLine(line=line) for line in lines]

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Today's check-in of the homes followed."
    )
    async def family_checkins(self, info: Info) -> list[CheckinLine]:
        context = info.context
        return [
            CheckinLine(line=line)
            for line in await checkins.family_view(context.session, actor=context.actor)
        ]


@strawberry.type
class CareMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="The resident consents on her phone."
    )
    async def give_care_consent(self, info: Info, household_id: strawberry.ID) -> CareConsentResult:
        context = info.context

        async def work() -> CareRecordSaved:
            row = await ledger.do_give_consent(
                context.session, actor=context.actor, household_id=decode_id(household_id)
            )
            return CareRecordSaved(record=CareRecord(row=row))

        return await mutation_boundary(info, CareConsentError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="Consent signed on paper, with its photo.")
    async def record_care_consent(
        self, info: Info, resident_id: strawberry.ID, photo_id: strawberry.ID
    ) -> CareConsentResult:
        context = info.context

        async def work() -> CareRecordSaved:
            row = await ledger.do_record_paper_consent(
                context.session,
                actor=context.actor,
                resident_id=decode_id(resident_id),
                photo_id=decode_id(photo_id),
            )
            return CareRecordSaved(record=CareRecord(row=row))

        return await mutation_boundary(info, CareConsentError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="The resident or family withdraws."
    )
    async def withdraw_care_consent(self, info: Info, id: strawberry.ID) -> CareConsentResult:
        context = info.context

        async def work() -> CareRecordSaved:
            row = await ledger.do_withdraw_consent(
                context.session, actor=context.actor, record_id=decode_id(id)
            )
            return CareRecordSaved(record=CareRecord(row=row))

        return await mutation_boundary(info, CareConsentError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def update_care_record(
        self, info: Info, id: strawberry.ID, input: CareRecordInput
    ) -> CareRecordResult:
        context = info.context

        async def work() -> CareRecordSaved:
            row = await ledger.do_update_record(
                context.session,
                actor=context.actor,
                record_id=decode_id(id),
                living=Living(input.living.value),
                mobility=Mobility(input.mobility.value),
                needs=input.needs,
                visit_times=input.visit_times,
                contact_name=input.contact_name,
                contact_phone=input.contact_phone,
            )
            return CareRecordSaved(record=CareRecord(row=row))

        return await mutation_boundary(info, CareRecordError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="A visit; a follow-up may become a work order."
    )
    async def record_care_visit(
        self,
        info: Info,
        record_id: strawberry.ID,
        finding: CareFinding,  # type: ignore[valid-type]
        note: str = "",
        follow_up: str = "",
        make_work_order: bool = False,
    ) -> CareVisitResult:
        context = info.context

        async def work() -> CareVisitSaved:
            row = await checkins.do_record_visit(
                context.session,
                actor=context.actor,
                record_id=decode_id(record_id),
                finding=Finding(finding.value),
                note=note,
                follow_up=follow_up,
                make_work_order=make_work_order,
            )
            return CareVisitSaved(visit=CareVisit(row=row))

        return await mutation_boundary(info, CareVisitError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="The resident's own daily check-in."
    )
    async def set_up_checkin(self, info: Info, window_end: int) -> CheckinPlanResult:
        context = info.context

        async def work() -> CheckinPlanSaved:
            row = await checkins.do_set_up(context.session, actor=context.actor, window_end=window_end)
            return CheckinPlanSaved(plan=CheckinPlan(row=row))

        return await mutation_boundary(info, CheckinPlanError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="The steward sets it up, with consent.")
    async def set_up_checkin_for(
        self, info: Info, resident_id: strawberry.ID, window_end: int
    ) -> CheckinPlanResult:
        context = info.context

        async def work() -> CheckinPlanSaved:
            row = await checkins.do_set_up_for(
                context.session,
                actor=context.actor,
                resident_id=decode_id(resident_id),
                window_end=window_end,
            )
            return CheckinPlanSaved(plan=CheckinPlan(row=row))

        return await mutation_boundary(info, CheckinPlanError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Away from home: 0 days ends a pause."
    )
    async def pause_checkin(self, info: Info, days: int) -> CheckinPlanResult:
        context = info.context

        async def work() -> CheckinPlanSaved:
            row = await checkins.do_pause(context.session, actor=context.actor, days=days)
            return CheckinPlanSaved(plan=CheckinPlan(row=row))

        return await mutation_boundary(info, CheckinPlanError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def stop_checkin(self, info: Info) -> CheckinPlanResult:
        context = info.context

        async def work() -> CheckinPlanSaved:
            row = await checkins.do_stop(context.session, actor=context.actor)
            return CheckinPlanSaved(plan=CheckinPlan(row=row))

        return await mutation_boundary(info, CheckinPlanError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="I'm fine: 我很好, the morning push, the app opened; family may confirm for her (residentId).",
    )
    async def check_in(
        self,
        info: Info,
        how: CheckinHow,  # type: ignore[valid-type]
        resident_id: strawberry.ID | None = None,
    ) -> CheckInResult:
        context = info.context

        async def work() -> CheckedIn:
            row = await checkins.do_check_in(
                context.session,
                actor=context.actor,
                how=How(how.value),
                resident_id=decode_id(resident_id) if resident_id is not None else None,
            )
            return CheckedIn(status=CheckinStatus(checkins.line_status(row)) if row else None)

        return await mutation_boundary(info, CheckInError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="我来处理: everyone sees who handles a miss."
    )
    async def take_checkin(self, info: Info, day_id: strawberry.ID) -> CheckinHandleResult:
        context = info.context

        async def work() -> CheckinHandled:
            row = await checkins.do_take(context.session, actor=context.actor, day_id=decode_id(day_id))
            return CheckinHandled(
                status=CheckinStatus(checkins.line_status(row)), handler_name=context.actor.person.name
            )

        return await mutation_boundary(info, CheckinHandleError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="What the steward found; not reachable: SOS."
    )
    async def record_checkin_outcome(
        self,
        info: Info,
        day_id: strawberry.ID,
        outcome: CheckinOutcome,  # type: ignore[valid-type]
    ) -> CheckinHandleResult:
        context = info.context

        async def work() -> CheckinHandled:
            row = await checkins.do_record_outcome(
                context.session, actor=context.actor, day_id=decode_id(day_id), outcome=Outcome(outcome.value)
            )
            return CheckinHandled(
                status=CheckinStatus(checkins.line_status(row)), handler_name=context.actor.person.name
            )

        return await mutation_boundary(info, CheckinHandleError, work)
