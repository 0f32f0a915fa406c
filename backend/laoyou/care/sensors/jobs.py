"""Timed work for the sensors: a door left shut for its hours is told to the steward, once per quiet spell."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.care.sensors import service as sensors
from laoyou.core import jobs

log = logging.getLogger("laoyou.care.sensors")


@jobs.periodic("quiet_doors", every_seconds=300)
async def check_quiet_doors(session: AsyncSession) -> int:
    told = await sensors.do_check_quiet_doors(session)
    if told:
        log.info("sensors: %s doors left shut told to their stewards", told)
    return told
