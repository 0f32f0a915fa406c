"""The demo's briefings are dated in the past few days, today's included, whatever the hour in Shanghai."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func
from sqlmodel import select

from laoyou.briefings.demo import DAYS, load_briefings_demo
from laoyou.briefings.models import Briefing
from laoyou.core.time import SHANGHAI, local, utcnow


@pytest.mark.parametrize("hour, minute", [(0, 2), (8, 0), (16, 30), (19, 15), (23, 59)])
async def test_the_demos_briefings_are_published_on_their_days_and_not_in_the_future(db, hour, minute):
    # Given a Shanghai clock at that time of day
    moment = datetime.now(SHANGHAI).replace(hour=hour, minute=minute, second=0, microsecond=0)
    before = await db.scalar(select(func.max(Briefing.id)))
    with time_machine.travel(moment, tick=False):
        # When the demo's briefings are loaded
        await load_briefings_demo(db)
        now = utcnow()
    made = list(await db.exec(select(Briefing).where(Briefing.id > before).order_by(Briefing.id)))
    # Then each community's briefings fall on today and the days before, in Shanghai, none after now
    assert made
    days = [local(b.published_at).date() for b in made]
    expected = [moment.date() - timedelta(days=n) for n in reversed(range(len(DAYS)))]
    assert days == expected * (len(made) // len(DAYS))
    assert all(b.published_at <= now for b in made)
