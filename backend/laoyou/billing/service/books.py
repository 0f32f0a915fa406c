"""Each community's books: income, expenses, shared district costs, balances, journal lines and invoice photos."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing import ledger
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import Account, Fund, JournalEntry, JournalLine, LedgerAttachment
from laoyou.billing.money import yuan
from laoyou.billing.service.common import PF, check_can_read_books, check_can_write, load_community
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import day_start
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile

INCOME_FUNDS = (Fund.public_income, Fund.maintenance_fund)


def _check_amount(amount_fen: int) -> None:
    if amount_fen <= 0 or amount_fen > 10_000_000_000:
        raise LaoyouError(ErrorCode.INVALID, "Enter an amount above zero.", field="amountFen")


async def do_record_income(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: Fund,
    amount_fen: int,
    memo: str,
    attachment_ref: str = "",
) -> JournalEntry:
    """Public income (parking, advertising, rent) or a deposit into the special maintenance fund."""
    community = await load_community(session, community_id)
    await check_can_write(session, actor, community_id)
    _check_amount(amount_fen)
    if fund not in INCOME_FUNDS:
        raise LaoyouError(
            ErrorCode.INVALID, "Income goes to public income or the maintenance fund.", field="fund"
        )
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    check_text(attachment_ref, field="attachmentRef")
    account = Account.income if fund == Fund.public_income else Account.fund_balance
    return await ledger.post(
        session,
        community_id=community_id,
        district_id=community.district_id,
        kind="income",
        legs=[debit(fund, Account.cash, amount_fen), credit(fund, account, amount_fen)],
        memo=memo.strip(),
        attachment_ref=attachment_ref.strip(),
        created_by_id=actor.person_id,
    )


async def do_record_expense(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: Fund,
    amount_fen: int,
    memo: str,
    attachment_ref: str = "",
) -> JournalEntry:
    """Spend from one of this community's funds; never more than the fund holds, never another's money."""
    community = await load_community(session, community_id)
    await check_can_write(session, actor, community_id)
    _check_amount(amount_fen)
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    check_text(attachment_ref, field="attachmentRef")
    held = await ledger.cash_balance(session, community_id, fund)
    if amount_fen > held:
        raise LaoyouError(
            ErrorCode.INSUFFICIENT_FUNDS,
            "This fund holds only %(held)s yuan; one community's money cannot pay for another's.",
            field="amountFen",
            held=yuan(held),
        )
    return await ledger.post(
        session,
        community_id=community_id,
        district_id=community.district_id,
        kind="expense",
        legs=[debit(fund, Account.expense, amount_fen), credit(fund, Account.cash, amount_fen)],
        memo=memo.strip(),
        attachment_ref=attachment_ref.strip(),
        created_by_id=actor.person_id,
    )


def apportion(amount_fen: int, weights: dict[int, int]) -> dict[int, int]:
    """Split exactly by weight (largest remainder, ties to the lower id): the shares sum to the amount."""
    total = sum(weights.values())
    if total <= 0:
        raise LaoyouError(ErrorCode.INVALID, "There is nothing to share the cost by.", field="key")
    shares = {k: amount_fen * w // total for k, w in weights.items()}
    left = amount_fen - sum(shares.values())
    by_remainder = sorted(weights, key=lambda k: (-(amount_fen * weights[k] % total), k))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


async def do_apportion_shared_cost(
    session: AsyncSession, *, actor: Actor, district_id: int, amount_fen: int, key: str, memo: str
) -> list[JournalEntry]:
    """A shared district cost (a shared cleaner, the steward) as an expense in each community's own books,
    split by floor area or by households."""
    await estates.access_district(session, actor=actor, district_id=district_id)
    if not actor.is_admin and district_id not in {
        g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None
    }:
        raise PermissionDenied()
    _check_amount(amount_fen)
    if key not in ("floor_area", "households"):
        raise LaoyouError(ErrorCode.INVALID, "Share by floor area or by households.", field="key")
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    communities = list(await session.exec(select(Community.id).where(Community.district_id == district_id)))
    stats = await estates.community_stats(session, communities)
    weights = {
        cid: (s.floor_area_centi_m2 if key == "floor_area" else s.households) for cid, s in stats.items()
    }
    shares = apportion(amount_fen, weights)
    entries = []
    for cid in sorted(shares):
        share = shares[cid]
        entry = await ledger.post(
            session,
            community_id=cid,
            district_id=district_id,
            kind="apportion",
            legs=[debit(PF, Account.expense, share), credit(PF, Account.shared_cost_payable, share)],
            memo=f"{memo.strip()} ({key}: {weights[cid]}/{sum(weights.values())})",
            created_by_id=actor.person_id,
        )
        if entry:
            entries.append(entry)
    return entries


async def entry_debit_fen(session: AsyncSession, *, entry_id: int) -> int:
    """What one entry of the books moved: the sum of its debit legs."""
    lines = await session.exec(
        select(JournalLine.debit_fen).where(JournalLine.entry_id == entry_id, JournalLine.debit_fen > 0)
    )
    return sum(lines)


@dataclass
class FundBalance:
    fund: str
    cash_fen: int = 0
    accounts: dict[str, int] = field(default_factory=dict)


async def fund_balances(session: AsyncSession, *, actor: Actor, community_id: int) -> list[FundBalance]:
    await check_can_read_books(session, actor, community_id)
    found = await ledger.balances(session, [community_id])
    result = []
    for fund in Fund:
        accounts_ = {acc: value for (cid, f, acc), value in found.items() if f == fund.value}
        result.append(
            FundBalance(fund=fund.value, cash_fen=accounts_.get(Account.cash.value, 0), accounts=accounts_)
        )
    return result


async def ledger_lines(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: str | None,
    first: int,
    after: int | None,
    expenses_only: bool = False,
    from_date: date | None = None,
    to_date: date | None = None,
) -> Page[tuple[JournalLine, JournalEntry]]:
    """Lines newest first; from_date and to_date (both included) are Asia/Shanghai days."""
    await check_can_read_books(session, actor, community_id)
    query = (
        select(JournalLine, JournalEntry)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.community_id == community_id)
    )
    if fund:
        query = query.where(JournalLine.fund == Fund(fund).value)
    if expenses_only:
        query = query.where(JournalLine.account == Account.expense.value)
    if from_date is not None:
        query = query.where(JournalEntry.created_at >= day_start(from_date))
    if to_date is not None:
        query = query.where(JournalEntry.created_at < day_start(to_date + timedelta(days=1)))
    if after is not None:
        query = query.where(JournalLine.id < after)
    rows = list(await session.exec(query.order_by(col(JournalLine.id).desc()).limit(first + 1)))
    page = Page(rows[:first], len(rows) > first)
    return page


async def do_attach_invoice(
    session: AsyncSession, *, actor: Actor, entry_id: int, media_id: int
) -> LedgerAttachment:
    """Link a stored photo of the invoice to an entry of the same community's books (writers only)."""
    entry = await session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound()
    await check_can_write(session, actor, entry.community_id)
    stored = await session.get(MediaFile, media_id)
    # Only one's own upload: anyone else's would become visible to the books' readers by being attached.
    if (
        stored is None
        or stored.uploaded_by_id != actor.person_id
        or stored.community_id != entry.community_id
        or stored.kind != "image"
    ):
        raise NotFound()
    found = (
        await session.exec(
            select(LedgerAttachment).where(
                LedgerAttachment.entry_id == entry_id, LedgerAttachment.media_id == media_id
            )
        )
    ).first()
    if found is not None:
        return found
    link = LedgerAttachment(
        entry_id=entry_id, media_id=media_id, community_id=entry.community_id, district_id=entry.district_id
    )
    session.add(link)
    await session.flush()
    return link


async def ledger_attachments(
    session: AsyncSession, *, actor: Actor, community_id: int, entry_ids: list[int]
) -> dict[int, list[int]]:
    """The invoice photos (media ids) of these entries of one community's books, for those who read them."""
    await check_can_read_books(session, actor, community_id)
    result: dict[int, list[int]] = {}
    if not entry_ids:
        return result
    rows = await session.exec(
        select(LedgerAttachment.entry_id, LedgerAttachment.media_id)
        .where(
            LedgerAttachment.community_id == community_id,
            col(LedgerAttachment.entry_id).in_(sorted(set(entry_ids))),
        )
        .order_by(LedgerAttachment.id)
    )
    for entry_id, media_id in rows:
        result.setdefault(entry_id, []).append(media_id)
    return result


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """A photo of an invoice on the books is seen only by those who may read that community's books
    (registered with media)."""
    link = (
        await session.exec(
            select(LedgerAttachment.community_id).where(LedgerAttachment.media_id == media_file.id).limit(1)
        )
    ).first()
    if link is not None:
        await check_can_read_books(session, actor, link)


if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)
