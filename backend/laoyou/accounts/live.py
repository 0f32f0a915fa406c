"""A person's account changed: a session of hers ended or her grants did. Her open WebSockets hear it.

A WebSocket is authenticated once, when it connects, and keeps the actor it had then; so every change that
would give a request another actor (or none) is announced on her account channel, after the commit, and each
of her sockets reads its session again (graphql/router.py): a session that ended closes the socket, new or
fewer grants make the phone connect again with them.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.events import announce


def account_channel(person_id: int) -> str:
    return f"account:{person_id}"


def announce_account_changed(session: AsyncSession, person_id: int) -> None:
    """Queued with the change: her sockets re-read only what committed, so the event says nothing more."""
    announce(session, account_channel(person_id), {"kind": "account"})
