"""GraphQL for quarterly finance disclosures: prepare, publish, correct; read, ask about a line; who has read it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import segno
import strawberry

from laoyou.billing.schema import Money, money
from laoyou.core import i18n
from laoyou.core.time import as_utc
from laoyou.estates.schema import Community, Household
from laoyou.governance.disclosures import service as disclosures
from laoyou.governance.disclosures.models import Disclosure as DisclosureRow
from laoyou.governance.disclosures.models import DisclosureLine as LineRow
from laoyou.governance.disclosures.models import DisclosureStatus as StatusValue
from laoyou.governance.disclosures.models import LineKind as LineKindValue
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id

DisclosureStatus = strawberry.enum(Enum("DisclosureStatus", {v.name.upper(): v.value for v in StatusValue}))
DisclosureLineKind = strawberry.enum(
    Enum("DisclosureLineKind", {v.name.upper(): v.value for v in LineKindValue})
)


def _(message: str) -> str:
    """Marks a msgid; translated in the reader's language where it is shown."""
    return message


FUND_NAMES = {
    "property_fee": _("Property fees"),
    "public_income": _("Public income (parking, advertising, rent)"),
    "maintenance_fund": _("Special maintenance fund"),
}
SYSTEM_TITLES = {
    ("income", "property_fee"): _("Property fees collected"),
    ("staff_share", "property_fee"): _("Share of the district's staff costs"),
    ("arrears", "property_fee"): _("Property fees not yet paid"),
}
KEY_NAMES = {"households": _("by households"), "floor_area": _("by floor area")}


def line_title(info: Info, kind: str, fund: str, title: str) -> str:
    """The steward's words, or the system's name for the line in the reader's language."""
    if title:
        return title
    return i18n.gettext(SYSTEM_TITLES.get((kind, fund), _("Other")), info.context.language)


@strawberry.type(description="An invoice photo behind a spending line.")
class DisclosureInvoice:
    media_id: strawberry.Private[int]
    has_thumb: strawberry.Private[bool]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.media_id)

    @strawberry.field
    def url(self) -> str:
        return f"/media/{self.media_id}"

    @strawberry.field
    def thumb_url(self) -> str:
        return f"/media/{self.media_id}/thumb" if self.has_thumb else f"/media/{self.media_id}"


@strawberry.type(description="One line of a disclosure: income, spending, the staff share or arrears.")
class DisclosureLine:
    row: strawberry.Private[LineRow]
    bar_base: strawberry.Private[int] = 0

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def kind(self) -> DisclosureLineKind:  # type: ignore[valid-type]
        return DisclosureLineKind(self.row.kind)

    @strawberry.field(description="property_fee, public_income or maintenance_fund")
    def fund(self) -> str:
        return self.row.fund

    @strawberry.field(
        description="What the line is, in the reader's language for the lines the system names."
    )
    def title(self, info: Info) -> str:
        return line_title(info, self.row.kind, self.row.fund, self.row.title)

    @strawberry.field
    def amount(self) -> Money:
        return money(self.row.amount_fen)

    @strawberry.field(description="The bar's length in the fund's chart, 0–100 (the largest line is 100).")
    def bar_percent(self) -> int:
        return self.row.amount_fen * 100 // self.bar_base if self.bar_base > 0 else 0

    @strawberry.field
    async def invoices(self, info: Info) -> list[DisclosureInvoice]:
        found = await info.context.loaders.disclosure_invoices.load(self.row.id)
        return [DisclosureInvoice(media_id=m.id, has_thumb=bool(m.thumb_key)) for m in found]


@strawberry.type(description="One fund's income and spending for the quarter, with its lines for the chart.")
class DisclosureFund:
    fund: str
    name: str
    income: Money
    spending: Money
    balance: Money
    lines: list[DisclosureLine]


@strawberry.type(description="The district's staff costs, the key and this community's computed share.")
class DisclosureStaffShare:
    cost: Money
    key: str
    key_name: str
    weight: int
    weight_total: int
    share: Money

    @strawberry.field(description="This community's weight as read: households, or floor area in m².")
    def weight_text(self) -> str:
        return _weight_text(self.key, self.weight)

    @strawberry.field
    def weight_total_text(self) -> str:
        return _weight_text(self.key, self.weight_total)


def _weight_text(key: str, weight: int) -> str:
    """Floor area is kept in hundredths of a m²."""
    return f"{weight // 100}.{weight % 100:02d} m²" if key == "floor_area" else str(weight)


@strawberry.type(description="What a correction changed from the previous version (null: added or removed).")
class DisclosureChange:
    title: str
    fund: str
    before: Money | None
    after: Money | None


@strawberry.type(description="A household that has opened the disclosure, and when it first did.")
class DisclosureHouseholdRead:
    household: Household
    read_at: datetime


@strawberry.type(description="Which households have read it, for the community's officials and stewards.")
class DisclosureReadership:
    households: int
    households_read: int
    reads: list[DisclosureHouseholdRead]


@strawberry.type(description="A community's quarterly finance disclosure (财务公示), one version of it.")
class Disclosure:
    row: strawberry.Private[DisclosureRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    def year(self) -> int:
        return self.row.year

    @strawberry.field
    def quarter(self) -> int:
        return self.row.quarter

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def status(self) -> DisclosureStatus:  # type: ignore[valid-type]
        return DisclosureStatus(self.row.status)

    @strawberry.field(description="What a correction corrects.")
    def note(self) -> str:
        return self.row.note

    @strawberry.field
    def previous_id(self) -> strawberry.ID | None:
        return encode_id(self.row.previous_id) if self.row.previous_id else None

    @strawberry.field
    def published_at(self) -> datetime | None:
        return as_utc(self.row.published_at) if self.row.published_at else None

    @strawberry.field
    def updated_at(self) -> datetime:
        return as_utc(self.row.updated_at)

    async def _lines(self, info: Info) -> list[LineRow]:
        return await info.context.loaders.disclosure_lines.load(self.row.id)

    @strawberry.field(
        description="Income and spending per fund; the staff share is spent from property fees."
    )
    async def funds(self, info: Info) -> list[DisclosureFund]:
        lines = await self._lines(info)
        result = []
        for fund in disclosures.FUNDS:
            mine = [line for line in lines if line.fund == fund and line.kind != LineKindValue.arrears.value]
            income = sum(line.amount_fen for line in mine if line.kind == LineKindValue.income.value)
            spent = sum(line.amount_fen for line in mine if line.kind != LineKindValue.income.value)
            base = max((line.amount_fen for line in mine), default=0)
            result.append(
                DisclosureFund(
                    fund=fund,
                    name=i18n.gettext(FUND_NAMES[fund], info.context.language),
                    income=money(income),
                    spending=money(spent),
                    balance=money(income - spent),
                    lines=[DisclosureLine(row=line, bar_base=base) for line in mine],
                )
            )
        return result

    @strawberry.field(description="Property fees billed and still unpaid.")
    async def arrears(self, info: Info) -> DisclosureLine | None:
        found = [line for line in await self._lines(info) if line.kind == LineKindValue.arrears.value]
        return DisclosureLine(row=found[0]) if found else None

    @strawberry.field
    async def staff_share(self, info: Info) -> DisclosureStaffShare | None:
        row = self.row
        if not row.staff_key:
            return None
        lines = await self._lines(info)
        share = sum(line.amount_fen for line in lines if line.kind == LineKindValue.staff_share.value)
        return DisclosureStaffShare(
            cost=money(row.staff_cost_fen),
            key=row.staff_key,
            key_name=i18n.gettext(KEY_NAMES[row.staff_key], info.context.language),
            weight=row.staff_weight,
            weight_total=row.staff_weight_total,
            share=money(share),
        )

    @strawberry.field(
        description="What this version changed from the previous one; empty for a first version."
    )
    async def changes(self, info: Info) -> list[DisclosureChange]:
        return [
            DisclosureChange(
                title=line_title(info, c.kind, c.fund, c.title),
                fund=c.fund,
                before=money(c.before_fen) if c.before_fen is not None else None,
                after=money(c.after_fen) if c.after_fen is not None else None,
            )
            for c in await disclosures.disclosure_changes(info.context.session, self.row)
        ]

    @strawberry.field
    async def can_edit(self, info: Info) -> bool:
        return await disclosures.can_edit(info.context.session, actor=info.context.actor, row=self.row)

    @strawberry.field
    async def read_by_me(self, info: Info) -> bool:
        context = info.context
        if not context.actor.is_authenticated:
            return False
        found = await disclosures.read_by(
            context.session, person_id=context.actor.person_id, disclosure_ids=[self.row.id]
        )
        return self.row.id in found

    @strawberry.field(description="The lines the viewer has asked customer service about.")
    async def asked_line_ids(self, info: Info) -> list[strawberry.ID]:
        context = info.context
        found = await disclosures.asked_lines(
            context.session, person_id=context.actor.person_id, disclosure_id=self.row.id
        )
        return [encode_id(i) for i in sorted(found)]

    @strawberry.field(description="Null for residents: officials and stewards of the community see it.")
    async def readership(self, info: Info) -> DisclosureReadership | None:
        context = info.context
        if not context.actor.is_staff:
            return None
        found = await disclosures.readership(context.session, actor=context.actor, row=self.row)
        return DisclosureReadership(
            households=found.households,
            households_read=len(found.read),
            reads=[
                DisclosureHouseholdRead(household=Household(row=r.household), read_at=as_utc(r.read_at))
                for r in found.read
            ],
        )

    @strawberry.field(description="A QR code (SVG) of the online address, for the printed notice.")
    def qr_svg(self, info: Info) -> str:
        url = f"{info.context.settings.public_url.rstrip('/')}/disclosures/{self.row.id}"
        return segno.make(url, error="m").svg_inline(scale=5, border=2, title=url)


DisclosureError = error_type("DisclosureError")


@strawberry.type
class DisclosureSaved:
    disclosure: Disclosure


@strawberry.type
class DisclosureRead:
    disclosure: Disclosure
    newly_read: bool


@strawberry.type(description="The question went to customer service; the answer comes in that conversation.")
class DisclosureQuestionSent:
    conversation_id: strawberry.ID


DisclosureResult = result_union("DisclosureResult", DisclosureSaved, DisclosureError)
DisclosureReadResult = result_union("DisclosureReadResult", DisclosureRead, DisclosureError)
DisclosureQuestionResult = result_union("DisclosureQuestionResult", DisclosureQuestionSent, DisclosureError)


@strawberry.input
class DisclosureSpendingInput:
    fund: str
    title: str
    amount_fen: int
    photo_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.type
class DisclosuresQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Newest quarter first.")
    async def disclosures(self, info: Info, community_id: strawberry.ID | None = None) -> list[Disclosure]:
        context = info.context
        rows = await disclosures.list_disclosures(
            context.session,
            actor=context.actor,
            community_id=decode_id(community_id) if community_id else None,
        )
        return [Disclosure(row=row) for row in rows]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def disclosure(self, info: Info, id: strawberry.ID) -> Disclosure:
        context = info.context
        return Disclosure(
            row=await disclosures.access_disclosure(
                context.session, actor=context.actor, disclosure_id=decode_id(id)
            )
        )

    @strawberry.field(permission_classes=[IsStaff], description="Where the viewer prepares disclosures.")
    async def disclosure_communities(self, info: Info) -> list[Community]:
        context = info.context
        return [
            Community(row=c)
            for c in await disclosures.preparable_communities(context.session, actor=context.actor)
        ]


def _saved(row: DisclosureRow) -> DisclosureSaved:
    return DisclosureSaved(disclosure=Disclosure(row=row))


@strawberry.type
class DisclosuresMutation:
    @strawberry.mutation(permission_classes=[IsStaff], description="A draft for a quarter, from the books.")
    async def create_disclosure(
        self, info: Info, community_id: strawberry.ID, year: int, quarter: int
    ) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            return _saved(
                await disclosures.do_create_disclosure(
                    context.session,
                    actor=context.actor,
                    community_id=decode_id(community_id),
                    year=year,
                    quarter=quarter,
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def add_disclosure_spending(
        self, info: Info, id: strawberry.ID, input: DisclosureSpendingInput
    ) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            line = await disclosures.do_add_spending(
                context.session,
                actor=context.actor,
                disclosure_id=decode_id(id),
                fund=input.fund,
                title=input.title,
                amount_fen=input.amount_fen,
                photo_ids=[decode_id(p) for p in input.photo_ids],
            )
            return _saved(
                await disclosures.access_disclosure(
                    context.session, actor=context.actor, disclosure_id=line.disclosure_id
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def remove_disclosure_line(self, info: Info, line_id: strawberry.ID) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            return _saved(
                await disclosures.do_remove_line(
                    context.session, actor=context.actor, line_id=decode_id(line_id)
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="key: households or floor_area; the share is computed."
    )
    async def set_disclosure_staff_share(
        self, info: Info, id: strawberry.ID, cost_fen: int, key: str
    ) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            return _saved(
                await disclosures.do_set_staff_share(
                    context.session,
                    actor=context.actor,
                    disclosure_id=decode_id(id),
                    cost_fen=cost_fen,
                    key=key,
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="Freeze it and tell every resident.")
    async def publish_disclosure(self, info: Info, id: strawberry.ID) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            return _saved(
                await disclosures.do_publish(
                    context.session, actor=context.actor, disclosure_id=decode_id(id)
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="A new draft version of a published one.")
    async def correct_disclosure(self, info: Info, id: strawberry.ID, note: str) -> DisclosureResult:
        context = info.context

        async def work() -> DisclosureSaved:
            return _saved(
                await disclosures.do_correct(
                    context.session, actor=context.actor, disclosure_id=decode_id(id), note=note
                )
            )

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def mark_disclosure_read(self, info: Info, id: strawberry.ID) -> DisclosureReadResult:
        context = info.context
        disclosure_id = decode_id(id)

        async def work() -> DisclosureRead:
            added = await disclosures.do_mark_read(
                context.session, actor=context.actor, disclosure_id=disclosure_id
            )
            row = await disclosures.access_disclosure(
                context.session, actor=context.actor, disclosure_id=disclosure_id
            )
            return DisclosureRead(disclosure=Disclosure(row=row), newly_read=added)

        return await mutation_boundary(info, DisclosureError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask customer service about a line; a repeated clientId sends it once.",
    )
    async def ask_about_disclosure_line(
        self, info: Info, line_id: strawberry.ID, question: str, client_id: str
    ) -> DisclosureQuestionResult:
        context = info.context

        async def work() -> DisclosureQuestionSent:
            line, row = await disclosures.access_line(
                context.session, actor=context.actor, line_id=decode_id(line_id)
            )
            about = i18n.gettext(
                "About the finance disclosure of %(year)s Q%(quarter)s, the line \u201c%(line)s\u201d (%(amount)s yuan):",
                context.language,
                year=row.year,
                quarter=row.quarter,
                line=line_title(info, line.kind, line.fund, line.title),
                amount=money(line.amount_fen).yuan(),
            )
            conversation_id = await disclosures.do_ask(
                context.session,
                actor=context.actor,
                line_id=line.id,
                question=question,
                line_text=about,
                client_id=client_id,
            )
            return DisclosureQuestionSent(conversation_id=encode_id(conversation_id))

        return await mutation_boundary(info, DisclosureError, work)
