"""The ledger page is in the reader's words: a bill run's line names its month in her language (the run writes
a marker, "bills 2026-09"), and the demo's own lines are written as a steward would write them."""

from __future__ import annotations

import re

from sqlmodel import select

from laoyou.estates.models import Community

from ..conftest import STEWARD_XIUSHAN
from .test_fee_plan_pages import log_in


async def test_bill_runs_read_as_words_on_the_ledger(client, db):
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    await log_in(client, STEWARD_XIUSHAN)
    page = await client.get(f"/staff/communities/{xiushan}/ledger", params={"fund": "property_fee"})
    assert page.status_code == 200
    assert re.search(r"\d{4}-\d{2}的账单", page.text)
    assert "bills 20" not in page.text and "demo:" not in page.text
