"""Timed work of the daily check-in: a missed window, then family after an hour, then the steward after two."""

from __future__ import annotations

import logging
from functools import cache

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.sms import SmsSender, make_sms_sender
from laoyou.care.checkins import service as checkins
from laoyou.core import jobs
from laoyou.core.settings import get_settings

log = logging.getLogger("laoyou.care.jobs")


@cache
def _sms() -> SmsSender:
    """The worker's own sender, made once from the settings (the app's belongs to its requests)."""
    return make_sms_sender(get_settings())


@jobs.periodic("care_checkins", every_seconds=60)
async def escalate_checkins(session: AsyncSession) -> checkins.CheckinReport:
    report = await checkins.run_checkin_jobs(session, sms=_sms())
    if report.missed or report.family_told or report.paged:
        log.info("care: %s", report)
    return report
