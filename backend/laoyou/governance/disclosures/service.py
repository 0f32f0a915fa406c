"""Quarterly finance disclosures (公示): a steward prepares one from the community's books, adds the spending
lines with their invoices and shares the district's staff costs by a key; publishing freezes it and tells every
resident; a correction is the next version. Residents read it and ask about a line in customer service; the
community's officials and stewards see which households have read it.

Everything outside the disclosure is read through its domain's service: the books and arrears (billing), the
communities and households (estates), photos (media), conversations (support), notices (notify).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing import service as books
from laoyou.billing.models import Account, Fund
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.text import check_text
from laoyou.core.time import local_date, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, Household
from laoyou.governance.disclosures.models import (
    Disclosure,
    DisclosureInvoice,
    DisclosureLine,
    DisclosureQuestion,
    DisclosureRead,
    DisclosureStatus,
    LineKind,
)
from laoyou.media import service as media
from laoyou.media.models import MediaFile
from laoyou.notify import service as notify
from laoyou.support import service as support

FUNDS = (Fund.property_fee.value, Fund.public_income.value, Fund.maintenance_fund.value)
STAFF_KEYS = ("households", "floor_area")
MAX_LINES = 60
MAX_PHOTOS = 6
MAX_AMOUNT = 10_000_000_000
LEDGER_PAGE = 500


def _(message: str) -> str:
    """Marks a msgid; translated where it is used."""
    return message


def quarter_days(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a quarter."""
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1) - timedelta(days=1)
    return start, end


def check_quarter(year: int, quarter: int) -> None:
    """A quarter that has begun (Shanghai calendar), not before 2000."""
    if not (1 <= quarter <= 4):
        raise LaoyouError(ErrorCode.INVALID, "Choose a quarter from 1 to 4.", field="quarter")
    if not (2000 <= year <= 2100) or quarter_days(year, quarter)[0] > local_date(utcnow()):
        raise LaoyouError(ErrorCode.INVALID, "Choose a quarter that has begun.", field="year")


def _resident_households(actor: Actor, community_id: int) -> list[int]:
    """The viewer's own and followed households in this community."""
    return sorted(
        g.household_id
        for g in actor.grants_of(Role.resident, Role.family)
        if g.household_id and g.community_id == community_id
    )


# --- who may see and change what -----------------------------------------------------------------------


async def access_disclosure(session: AsyncSession, *, actor: Actor, disclosure_id: int) -> Disclosure:
    """Those who read the community's books (its stewards, its officials, the admin) see every version, drafts
    included; its residents and family see what was published (a superseded version too: corrections link it)."""
    actor.require_login()
    row = await session.get(Disclosure, disclosure_id)
    if row is None:
        raise NotFound()
    readers = await books.books_community_ids(session, actor)
    if readers is None or row.community_id in readers:
        return row
    if row.status != DisclosureStatus.draft.value and _resident_households(actor, row.community_id):
        return row
    raise NotFound()


async def can_edit(session: AsyncSession, *, actor: Actor, row: Disclosure) -> bool:
    if row.status != DisclosureStatus.draft.value:
        return False
    writers = await books.writable_community_ids(session, actor)
    return writers is None or row.community_id in writers


async def access_draft(session: AsyncSession, *, actor: Actor, disclosure_id: int) -> Disclosure:
    """A draft, for a steward of its community; a published version is frozen."""
    row = await access_disclosure(session, actor=actor, disclosure_id=disclosure_id)
    await books.check_can_write(session, actor, row.community_id)
    if row.status != DisclosureStatus.draft.value:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "A published disclosure cannot be changed. Start a correction instead."
        )
    return row


async def access_line(
    session: AsyncSession, *, actor: Actor, line_id: int
) -> tuple[DisclosureLine, Disclosure]:
    line = await session.get(DisclosureLine, line_id)
    if line is None:
        raise NotFound()
    return line, await access_disclosure(session, actor=actor, disclosure_id=line.disclosure_id)


async def preparable_communities(session: AsyncSession, *, actor: Actor) -> list[Community]:
    """The communities whose disclosures the actor prepares: those they write the books of."""
    writers = await books.writable_community_ids(session, actor)
    if writers is not None and not writers:
        return []
    page = await estates.list_communities(session, actor=actor, first=200, after=None)
    return [c for c in page.items if writers is None or c.id in writers]


async def list_disclosures(
    session: AsyncSession, *, actor: Actor, community_id: int | None = None
) -> list[Disclosure]:
    """The newest first; superseded versions are reached from their correction. Staff of the books see
    drafts; residents and family see their communities' published ones."""
    actor.require_login()
    readers = await books.books_community_ids(session, actor)
    mine = {g.community_id for g in actor.grants_of(Role.resident, Role.family) if g.community_id}
    query = select(Disclosure).where(Disclosure.status != DisclosureStatus.superseded.value)
    if readers is not None:
        query = query.where(
            col(Disclosure.community_id).in_(readers)
            | (
                col(Disclosure.community_id).in_(mine)
                & (Disclosure.status == DisclosureStatus.published.value)
            )
        )
    if community_id is not None:
        query = query.where(Disclosure.community_id == community_id)
    order = (col(Disclosure.year).desc(), col(Disclosure.quarter).desc(), col(Disclosure.id).desc())
    return list(await session.exec(query.order_by(*order).limit(40)))


# --- what the books say ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    kind: LineKind
    fund: str
    title: str
    amount_fen: int


async def ledger_income(
    session: AsyncSession, *, actor: Actor, community_id: int, year: int, quarter: int
) -> list[Figure]:
    """The quarter's income per fund from the books: property fees collected (payments less refunds), public
    income and maintenance-fund deposits by what they were for (parking, advertising, …)."""
    start, end = quarter_days(year, quarter)
    fees = 0
    by_memo: dict[tuple[str, str], int] = {}
    after = None
    while True:
        page = await books.ledger_lines(
            session,
            actor=actor,
            community_id=community_id,
            fund=None,
            first=LEDGER_PAGE,
            after=after,
            from_date=start,
            to_date=end,
        )
        for line, entry in page.items:
            if line.fund == Fund.property_fee.value and line.account == Account.cash.value:
                fees += line.debit_fen - line.credit_fen if entry.kind in ("payment", "refund") else 0
            elif entry.kind == "income" and line.account in (
                Account.income.value,
                Account.fund_balance.value,
            ):
                key = (line.fund, entry.memo.strip()[:100])
                by_memo[key] = by_memo.get(key, 0) + line.credit_fen
        if not page.has_next_page:
            break
        after = page.items[-1][0].id
    figures = [Figure(LineKind.income, Fund.property_fee.value, "", fees)]
    figures += [Figure(LineKind.income, fund, memo, fen) for (fund, memo), fen in sorted(by_memo.items())]
    return figures


async def arrears(session: AsyncSession, *, actor: Actor, community_id: int) -> Figure:
    """What households still owe on their property-fee bills."""
    owed = sum(
        row.owed_fen
        for row in await books.arrears_by_building(session, actor=actor, community_id=community_id)
    )
    return Figure(LineKind.arrears, Fund.property_fee.value, "", owed)


@dataclass(frozen=True)
class StaffShare:
    weight: int
    weight_total: int
    share_fen: int


async def staff_share(session: AsyncSession, *, row: Disclosure, cost_fen: int, key: str) -> StaffShare:
    """This community's share of the district's staff costs, split by the key over every community of the
    district with the books' own rule (the shares of all communities sum to the cost)."""
    ids = await estates.district_community_ids(session, row.district_id)
    stats = await estates.community_stats(session, ids)
    weights = {
        cid: (s.floor_area_centi_m2 if key == "floor_area" else s.households) for cid, s in stats.items()
    }
    shares = books.apportion(cost_fen, weights)
    return StaffShare(
        weights.get(row.community_id, 0), sum(weights.values()), shares.get(row.community_id, 0)
    )


# --- preparing -------------------------------------------------------------------------------------------


async def _lines(session: AsyncSession, disclosure_id: int) -> list[DisclosureLine]:
    return list(
        await session.exec(
            select(DisclosureLine)
            .where(DisclosureLine.disclosure_id == disclosure_id)
            .order_by(DisclosureLine.position, DisclosureLine.id)
        )
    )


async def _replace_figures(session: AsyncSession, *, actor: Actor, row: Disclosure) -> None:
    """Income and arrears as the books say now (a draft follows the books until it is published)."""
    kept = []
    for line in await _lines(session, row.id):
        if line.kind in (LineKind.income.value, LineKind.arrears.value):
            await session.delete(line)
        else:
            kept.append(line)
    await session.flush()
    figures = await ledger_income(
        session, actor=actor, community_id=row.community_id, year=row.year, quarter=row.quarter
    )
    figures.append(await arrears(session, actor=actor, community_id=row.community_id))
    for position, figure in enumerate(figures):
        session.add(_line(row, figure, position))
    for position, line in enumerate(kept, start=len(figures)):
        line.position = position
        session.add(line)
    await session.flush()


def _line(row: Disclosure, figure: Figure, position: int) -> DisclosureLine:
    return DisclosureLine(
        disclosure_id=row.id,
        community_id=row.community_id,
        district_id=row.district_id,
        kind=figure.kind.value,
        fund=figure.fund,
        title=figure.title,
        amount_fen=figure.amount_fen,
        position=position,
    )


async def do_create_disclosure(
    session: AsyncSession, *, actor: Actor, community_id: int, year: int, quarter: int
) -> Disclosure:
    """A draft for a quarter, its income and arrears read from the books. One per quarter: a published
    quarter is corrected, not prepared again."""
    await books.check_can_write(session, actor, community_id)
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    check_quarter(year, quarter)
    existing = (
        await session.exec(
            select(Disclosure.id).where(
                Disclosure.community_id == community_id,
                Disclosure.year == year,
                Disclosure.quarter == quarter,
            )
        )
    ).first()
    if existing is not None:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS,
            "This quarter already has a disclosure. Open it to continue or to correct it.",
            field="quarter",
        )
    row = Disclosure(
        community_id=community.id,
        district_id=community.district_id,
        year=year,
        quarter=quarter,
        created_by_id=actor.person_id,
    )
    session.add(row)
    await session.flush()
    await _replace_figures(session, actor=actor, row=row)
    return row


def _check_amount(amount_fen: int) -> None:
    if amount_fen <= 0 or amount_fen > MAX_AMOUNT:
        raise LaoyouError(ErrorCode.INVALID, "Enter an amount above zero.", field="amountFen")


async def _check_photos(
    session: AsyncSession, *, actor: Actor, row: Disclosure, photo_ids: list[int]
) -> list[MediaFile]:
    """Photos the steward uploaded for this community (anyone else's would be shown to residents by being
    attached)."""
    wanted = list(dict.fromkeys(photo_ids))
    if len(wanted) > MAX_PHOTOS:
        raise LaoyouError(
            ErrorCode.INVALID, "A line has at most %(max)s invoice photos.", field="photoIds", max=MAX_PHOTOS
        )
    found = []
    for media_id in wanted:
        try:
            stored = await media.access_media(session, actor=actor, media_id=media_id)
        except PermissionDenied:
            stored = None
        if (
            stored is None
            or stored.uploaded_by_id != actor.person_id
            or stored.community_id != row.community_id
            or stored.kind != "image"
        ):
            raise LaoyouError(
                ErrorCode.INVALID, "One of the photos cannot be used. Please add it again.", field="photoIds"
            )
        found.append(stored)
    return found


async def do_add_spending(
    session: AsyncSession,
    *,
    actor: Actor,
    disclosure_id: int,
    fund: str,
    title: str,
    amount_fen: int,
    photo_ids: list[int],
) -> DisclosureLine:
    """A spending line of a draft: what it was, which fund paid, how much, and the invoices' photos."""
    row = await access_draft(session, actor=actor, disclosure_id=disclosure_id)
    if fund not in FUNDS:
        raise LaoyouError(ErrorCode.INVALID, "Choose which fund paid.", field="fund")
    title = title.strip()
    if not (0 < len(title) <= 100):
        raise LaoyouError(
            ErrorCode.INVALID, "Say what the money was spent on (up to 100 characters).", field="title"
        )
    check_text(title, field="title")
    _check_amount(amount_fen)
    lines = await _lines(session, row.id)
    if len(lines) >= MAX_LINES:
        raise LaoyouError(ErrorCode.INVALID, "A disclosure has at most %(max)s lines.", max=MAX_LINES)
    photos = await _check_photos(session, actor=actor, row=row, photo_ids=photo_ids)
    line = _line(row, Figure(LineKind.spending, fund, title, amount_fen), len(lines))
    session.add(line)
    await session.flush()
    for photo in photos:
        session.add(
            DisclosureInvoice(
                line_id=line.id,
                disclosure_id=row.id,
                media_id=photo.id,
                community_id=row.community_id,
                district_id=row.district_id,
            )
        )
    await _touch(session, row)
    return line


async def do_remove_line(session: AsyncSession, *, actor: Actor, line_id: int) -> Disclosure:
    """A spending line leaves a draft with its photos' links; the figures from the books stay."""
    line, row = await access_line(session, actor=actor, line_id=line_id)
    row = await access_draft(session, actor=actor, disclosure_id=row.id)
    if line.kind != LineKind.spending.value:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "Only a spending line can be removed; the rest comes from the books."
        )
    for invoice in await session.exec(select(DisclosureInvoice).where(DisclosureInvoice.line_id == line.id)):
        await session.delete(invoice)
    await session.flush()
    await session.delete(line)
    await _touch(session, row)
    return row


async def do_set_staff_share(
    session: AsyncSession, *, actor: Actor, disclosure_id: int, cost_fen: int, key: str
) -> Disclosure:
    """The district's staff costs for the quarter and the key to share them by; the community's share is
    computed, never typed."""
    row = await access_draft(session, actor=actor, disclosure_id=disclosure_id)
    if key not in STAFF_KEYS:
        raise LaoyouError(ErrorCode.INVALID, "Share by floor area or by households.", field="key")
    _check_amount(cost_fen)
    share = await staff_share(session, row=row, cost_fen=cost_fen, key=key)
    if share.weight_total <= 0:
        raise LaoyouError(ErrorCode.INVALID, "There is nothing to share the cost by.", field="key")
    row.staff_cost_fen, row.staff_key = cost_fen, key
    row.staff_weight, row.staff_weight_total = share.weight, share.weight_total
    lines = await _lines(session, row.id)
    for line in lines:
        if line.kind == LineKind.staff_share.value:
            await session.delete(line)
    session.add(
        _line(row, Figure(LineKind.staff_share, Fund.property_fee.value, "", share.share_fen), len(lines))
    )
    await _touch(session, row)
    return row


async def _touch(session: AsyncSession, row: Disclosure) -> None:
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()


async def do_publish(session: AsyncSession, *, actor: Actor, disclosure_id: int) -> Disclosure:
    """Freeze the draft with the books' figures as they are now, replace the version it corrects, and tell
    every resident and family member of the community."""
    row = await access_draft(session, actor=actor, disclosure_id=disclosure_id)
    await _replace_figures(session, actor=actor, row=row)
    now = utcnow()
    if row.previous_id is not None:
        previous = await session.get(Disclosure, row.previous_id)
        previous.status = DisclosureStatus.superseded.value
        session.add(previous)
    row.status, row.published_at, row.updated_at = DisclosureStatus.published.value, now, now
    session.add(row)
    await session.flush()
    community = await estates.access_community(session, actor=actor, community_id=row.community_id)
    people = await notify.community_audience(session, [row.community_id])
    heading = (
        _("The finance disclosure for %(year)s Q%(quarter)s is corrected")
        if row.version > 1
        else _("The finance disclosure for %(year)s Q%(quarter)s is published")
    )
    await notify.do_notify_people(
        session,
        person_ids=people,
        kind="disclosure",
        title=i18n.gettext(heading, year=row.year, quarter=row.quarter),
        body=i18n.gettext(
            "%(community)s: income, spending and arrears of each fund.", community=community.name
        ),
        link=f"/disclosures/{row.id}",
        communities=[row.community_id],  # one live-count event for the community, not one per person
    )
    return row


async def do_correct(session: AsyncSession, *, actor: Actor, disclosure_id: int, note: str) -> Disclosure:
    """A correction of the newest published version: a new draft with the same lines and photos, saying what
    it corrects; residents see the change once it is published."""
    row = await access_disclosure(session, actor=actor, disclosure_id=disclosure_id)
    await books.check_can_write(session, actor, row.community_id)
    if row.status != DisclosureStatus.published.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Only the published version can be corrected.")
    note = note.strip()
    if not (0 < len(note) <= 500):
        raise LaoyouError(
            ErrorCode.INVALID, "Say what the correction corrects (up to 500 characters).", field="note"
        )
    check_text(note, field="note")
    pending = (
        await session.exec(
            select(Disclosure.id).where(
                Disclosure.previous_id == row.id, Disclosure.status == DisclosureStatus.draft.value
            )
        )
    ).first()
    if pending is not None:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "A correction of this disclosure is already being prepared."
        )
    draft = Disclosure(
        community_id=row.community_id,
        district_id=row.district_id,
        year=row.year,
        quarter=row.quarter,
        version=row.version + 1,
        previous_id=row.id,
        note=note,
        staff_cost_fen=row.staff_cost_fen,
        staff_key=row.staff_key,
        staff_weight=row.staff_weight,
        staff_weight_total=row.staff_weight_total,
        created_by_id=actor.person_id,
    )
    session.add(draft)
    await session.flush()
    invoices = await invoices_by_line(session, [line.id for line in await _lines(session, row.id)])
    for old in await _lines(session, row.id):
        line = _line(draft, Figure(LineKind(old.kind), old.fund, old.title, old.amount_fen), old.position)
        session.add(line)
        await session.flush()
        for photo in invoices.get(old.id, []):
            session.add(
                DisclosureInvoice(
                    line_id=line.id,
                    disclosure_id=draft.id,
                    media_id=photo.id,
                    community_id=draft.community_id,
                    district_id=draft.district_id,
                )
            )
    await session.flush()
    return draft


# --- reading -----------------------------------------------------------------------------------------------


async def lines_by_disclosure(session: AsyncSession, ids: list[int]) -> dict[int, list[DisclosureLine]]:
    result: dict[int, list[DisclosureLine]] = {i: [] for i in ids}
    if ids:
        for line in await session.exec(
            select(DisclosureLine)
            .where(col(DisclosureLine.disclosure_id).in_(ids))
            .order_by(DisclosureLine.position, DisclosureLine.id)
        ):
            result[line.disclosure_id].append(line)
    return result


async def invoices_by_line(session: AsyncSession, line_ids: list[int]) -> dict[int, list[MediaFile]]:
    result: dict[int, list[MediaFile]] = {i: [] for i in line_ids}
    if line_ids:
        for invoice, stored in await session.exec(
            select(DisclosureInvoice, MediaFile)
            .join(MediaFile, MediaFile.id == DisclosureInvoice.media_id)
            .where(col(DisclosureInvoice.line_id).in_(line_ids))
            .order_by(DisclosureInvoice.id)
        ):
            result[invoice.line_id].append(stored)
    return result


@dataclass(frozen=True)
class Change:
    kind: str
    fund: str
    title: str
    before_fen: int | None  # None: the line is new
    after_fen: int | None  # None: the line was removed


def changes(before: list[DisclosureLine], after: list[DisclosureLine]) -> list[Change]:
    """What a correction changed: lines added, removed or with another amount, matched by what they are."""

    def totals(lines: list[DisclosureLine]) -> dict[tuple[str, str, str], int]:
        found: dict[tuple[str, str, str], int] = {}
        for line in lines:
            key = (line.kind, line.fund, line.title)
            found[key] = found.get(key, 0) + line.amount_fen
        return found

    old, new = totals(before), totals(after)
    return [
        Change(*key, old.get(key), new.get(key))
        for key in list(old) + [k for k in new if k not in old]
        if old.get(key) != new.get(key)
    ]


async def disclosure_changes(session: AsyncSession, row: Disclosure) -> list[Change]:
    if row.previous_id is None:
        return []
    found = await lines_by_disclosure(session, [row.previous_id, row.id])
    return changes(found[row.previous_id], found[row.id])


@dataclass(frozen=True)
class HouseholdRead:
    household: Household
    read_at: object


@dataclass(frozen=True)
class Readership:
    households: int
    read: list[HouseholdRead]


async def readership(session: AsyncSession, *, actor: Actor, row: Disclosure) -> Readership:
    """Which households have opened it, first reader's time: for the community's officials and stewards."""
    readers = await books.books_community_ids(session, actor)
    if readers is not None and row.community_id not in readers:
        raise NotFound()
    first_reads = {
        household_id: read_at
        for household_id, read_at in await session.exec(
            select(DisclosureRead.household_id, func.min(DisclosureRead.read_at))
            .where(DisclosureRead.disclosure_id == row.id)
            .group_by(DisclosureRead.household_id)
        )
    }
    households = []
    after = None
    while True:
        page = await estates.list_households(
            session, actor=actor, community_id=row.community_id, first=500, after=after
        )
        households += page.items
        if not page.has_next_page:
            break
        after = page.items[-1].id
    read = [HouseholdRead(h, first_reads[h.id]) for h in households if h.id in first_reads]
    return Readership(len(households), read)


async def read_by(session: AsyncSession, *, person_id: int, disclosure_ids: list[int]) -> set[int]:
    if not disclosure_ids:
        return set()
    return set(
        await session.exec(
            select(DisclosureRead.disclosure_id).where(
                DisclosureRead.person_id == person_id, col(DisclosureRead.disclosure_id).in_(disclosure_ids)
            )
        )
    )


async def asked_lines(session: AsyncSession, *, person_id: int, disclosure_id: int) -> set[int]:
    return set(
        await session.exec(
            select(DisclosureQuestion.line_id).where(
                DisclosureQuestion.person_id == person_id, DisclosureQuestion.disclosure_id == disclosure_id
            )
        )
    )


# --- residents: reading and asking -------------------------------------------------------------------------


async def do_mark_read(session: AsyncSession, *, actor: Actor, disclosure_id: int) -> bool:
    """The viewer's households of this community have seen it; once per person and household."""
    row = await access_disclosure(session, actor=actor, disclosure_id=disclosure_id)
    if row.status == DisclosureStatus.draft.value:
        return False
    households = _resident_households(actor, row.community_id)
    seen = set(
        await session.exec(
            select(DisclosureRead.household_id).where(
                DisclosureRead.disclosure_id == row.id, DisclosureRead.person_id == actor.person_id
            )
        )
    )
    new = [h for h in households if h not in seen]
    for household_id in new:
        session.add(
            DisclosureRead(
                disclosure_id=row.id,
                person_id=actor.person_id,
                household_id=household_id,
                community_id=row.community_id,
                district_id=row.district_id,
            )
        )
    if new:
        await session.flush()
    return bool(new)


async def do_ask(
    session: AsyncSession, *, actor: Actor, line_id: int, question: str, line_text: str, client_id: str
) -> int:
    """A resident's question about a line goes to customer service as a message of her conversation, which
    names the line (line_text, in her language); the question keeps the link. Returns the conversation id."""
    line, row = await access_line(session, actor=actor, line_id=line_id)
    households = _resident_households(actor, row.community_id)
    if row.status == DisclosureStatus.draft.value or not households:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Only residents of this community can ask about it.")
    question = question.strip()
    if len(question) > 500:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep the question under %(max)s characters.", field="question", max=500
        )
    check_text(question, field="question")
    body = f"{line_text}\n{question}".strip()
    sent = await support.do_send_message(
        session, actor=actor, client_id=client_id, body=body, household_id=households[0]
    )
    conversation_id = sent.conversation.id
    known = (
        await session.exec(
            select(DisclosureQuestion.id).where(
                DisclosureQuestion.line_id == line.id,
                DisclosureQuestion.person_id == actor.person_id,
                DisclosureQuestion.conversation_id == conversation_id,
            )
        )
    ).first()
    if known is None:
        session.add(
            DisclosureQuestion(
                disclosure_id=row.id,
                line_id=line.id,
                conversation_id=conversation_id,
                person_id=actor.person_id,
                household_id=households[0],
                community_id=row.community_id,
                district_id=row.district_id,
            )
        )
        await session.flush()
    return conversation_id


# --- invoice photos are seen by whoever may see the disclosure ------------------------------------------------


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """An invoice photo attached to a disclosure is seen by whoever may see one of the disclosures it is on
    (registered with media)."""
    ids = list(
        await session.exec(
            select(DisclosureInvoice.disclosure_id)
            .where(DisclosureInvoice.media_id == media_file.id)
            .distinct()
        )
    )
    if not ids:
        return
    for disclosure_id in ids:
        try:
            await access_disclosure(session, actor=actor, disclosure_id=disclosure_id)
            return
        except PermissionDenied:
            continue
    raise NotFound()


if check_media_access not in media.ACCESS_GUARDS:
    media.ACCESS_GUARDS.append(check_media_access)
