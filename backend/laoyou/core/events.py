"""Events queued on the session by services and published only after the commit succeeds."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.pubsub import PubSub

_KEY = "laoyou_events"


def announce(session: AsyncSession, channel: str, message: dict[str, Any]) -> None:
    """Queue an event; nothing leaves the process unless the transaction commits."""
    session.info.setdefault(_KEY, []).append((channel, message))


def has_events(session: AsyncSession) -> bool:
    return bool(session.info.get(_KEY))


async def commit_and_publish(session: AsyncSession, pubsub: PubSub) -> None:
    events = session.info.pop(_KEY, [])
    await session.commit()
    for channel, message in events:
        await pubsub.publish(channel, message)


async def rollback(session: AsyncSession) -> None:
    session.info.pop(_KEY, None)
    await session.rollback()
