"""Timed work of the daily check-in: a missed window, then family after an hour, then the steward after two.

Family's notice is an emergency: it climbs from push to SMS and a call until one of them opens it (notify.reach).
"""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.care.checkins import service as checkins
from laoyou.core import jobs

log = logging.getLogger("laoyou.care.jobs")


@jobs.periodic("care_checkins", every_seconds=60)
async def escalate_checkins(session: AsyncSession) -> checkins.CheckinReport:
    report = await checkins.run_checkin_jobs(session)
    if report.missed or report.family_told or report.paged:
        log.info("care: %s", report)
    return report
