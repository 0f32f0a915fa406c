"""The climb: every 15 seconds, notices whose step was not opened in time go one channel up (an emergency's
step waits 2 minutes, so it climbs within 2 minutes 15 seconds)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.events import announce
from laoyou.core.jobs import periodic
from laoyou.notify.outbox import OUTBOX_CHANNEL
from laoyou.notify.reach import service


@periodic("reach.climb", every_seconds=15)
async def climb(session: AsyncSession) -> service.ClimbReport:
    report = await service.climb_due(session)
    if report.climbed:
        # Wakes the worker, which sends the new steps after this round commits.
        announce(session, OUTBOX_CHANNEL, {"reach": report.climbed})
    return report
