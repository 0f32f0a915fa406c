"""Timed work for customer service: a call whose caller is gone stops ringing and is told as missed."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import jobs
from laoyou.support import service as support

log = logging.getLogger("laoyou.support.jobs")


@jobs.periodic("unanswered_calls", every_seconds=30)
async def end_unanswered_calls(session: AsyncSession) -> int:
    ended = await support.do_end_unanswered_calls(session)
    if ended:
        log.info("calls: %s unanswered calls ended as missed", ended)
    return ended
