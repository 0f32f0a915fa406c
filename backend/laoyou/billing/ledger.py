"""Each community's double-entry books.

Every posting belongs to exactly one community, and within each fund its debits equal its credits: money
never crosses from one fund to another, nor from one community to another, by construction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.billing.models import DEBIT_NORMAL, Account, Fund, JournalEntry, JournalLine


@dataclass(frozen=True)
class Leg:
    fund: Fund
    account: Account
    debit_fen: int = 0
    credit_fen: int = 0


def debit(fund: Fund, account: Account, fen: int) -> Leg:
    return Leg(fund, account, debit_fen=fen)


def credit(fund: Fund, account: Account, fen: int) -> Leg:
    return Leg(fund, account, credit_fen=fen)


class UnbalancedEntry(ValueError):
    pass


def check_balanced(legs: list[Leg]) -> None:
    per_fund: dict[Fund, int] = defaultdict(int)
    for leg in legs:
        if leg.debit_fen < 0 or leg.credit_fen < 0 or not isinstance(leg.debit_fen + leg.credit_fen, int):
            raise UnbalancedEntry("amounts are non-negative integers of fen")
        per_fund[Fund(leg.fund)] += leg.debit_fen - leg.credit_fen
    if any(per_fund.values()):
        raise UnbalancedEntry(f"debits and credits differ within a fund: {dict(per_fund)}")


async def post(
    session: AsyncSession,
    *,
    community_id: int,
    district_id: int,
    kind: str,
    legs: list[Leg],
    memo: str = "",
    ref_type: str = "",
    ref_id: int | None = None,
    attachment_ref: str = "",
    created_by_id: int | None = None,
) -> JournalEntry | None:
    """Post one balanced entry to one community's books; zero-amount legs are dropped."""
    legs = [leg for leg in legs if leg.debit_fen or leg.credit_fen]
    check_balanced(legs)
    if not legs:
        return None
    entry = JournalEntry(
        community_id=community_id,
        district_id=district_id,
        kind=kind,
        memo=memo[:300],
        ref_type=ref_type,
        ref_id=ref_id,
        attachment_ref=attachment_ref[:300],
        created_by_id=created_by_id,
    )
    session.add(entry)
    await session.flush()
    await session.execute(
        insert(JournalLine),
        [
            {
                "entry_id": entry.id,
                "community_id": community_id,
                "district_id": district_id,
                "fund": Fund(leg.fund).value,
                "account": Account(leg.account).value,
                "debit_fen": leg.debit_fen,
                "credit_fen": leg.credit_fen,
            }
            for leg in legs
        ],
    )
    return entry


# A spreadsheet opening the CSV export runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as a CSV cell that a spreadsheet shows as text: a leading formula character gets a quote before it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


async def balances(session: AsyncSession, community_ids: list[int]) -> dict[tuple[int, str, str], int]:
    """(community, fund, account) -> balance in the account's normal direction."""
    rows = await session.exec(
        select(
            JournalLine.community_id,
            JournalLine.fund,
            JournalLine.account,
            func.coalesce(func.sum(JournalLine.debit_fen), 0),
            func.coalesce(func.sum(JournalLine.credit_fen), 0),
        )
        .where(col(JournalLine.community_id).in_(community_ids))
        .group_by(JournalLine.community_id, JournalLine.fund, JournalLine.account)
    )
    result = {}
    for community_id, fund, account, debits, credits in rows:
        net = int(debits) - int(credits)
        result[(community_id, fund, account)] = net if Account(account) in DEBIT_NORMAL else -net
    return result


async def cash_balance(session: AsyncSession, community_id: int, fund: Fund) -> int:
    value = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.debit_fen - JournalLine.credit_fen), 0)).where(
            JournalLine.community_id == community_id,
            JournalLine.fund == fund.value,
            JournalLine.account == Account.cash.value,
        )
    )
    return int(value or 0)


async def unbalanced_entries(session: AsyncSession) -> list[int]:
    """Entries whose lines do not balance within a fund, or that mix communities (the tests ask)."""
    rows = await session.exec(
        select(JournalLine.entry_id)
        .group_by(JournalLine.entry_id, JournalLine.fund)
        .having(func.sum(JournalLine.debit_fen) != func.sum(JournalLine.credit_fen))
    )
    mixed = await session.exec(
        select(JournalLine.entry_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.community_id != JournalEntry.community_id)
    )
    return sorted(set(rows) | set(mixed))
