"""Timed media work: files attached to nothing are removed a day after upload.

`run_media_jobs` is one unit of work at a given time (tests move the clock; it never commits); core.jobs
runs it every hour in the embedded worker or in `laoyou worker`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import jobs
from laoyou.core.settings import get_settings
from laoyou.media import service as media
from laoyou.media.storage import Storage, storage_for

log = logging.getLogger("laoyou.media.jobs")


async def run_media_jobs(session: AsyncSession, *, storage: Storage, now: datetime | None = None) -> int:
    """Remove what was uploaded a day ago and never attached; the number of files removed."""
    return await media.remove_unattached(session, storage=storage, now=now)


@jobs.periodic("media", every_seconds=3600)
async def periodic_media_jobs(session: AsyncSession) -> int:
    # The worker is started with the settings `laoyou serve` and `laoyou worker` read (LAOYOU_DATA_DIR): it opens
    # the storage for this hourly run and closes it (a bucket's client and connections) when done.
    async with storage_for(get_settings()) as storage:
        removed = await run_media_jobs(session, storage=storage)
    if removed:
        log.info("media: %s unattached files removed", removed)
    return removed
