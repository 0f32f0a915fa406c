"""The audit trail: who did what, and which staff read whose personal data."""

from __future__ import annotations

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import AuditEvent
from laoyou.core.time import utcnow


async def audit(
    session: AsyncSession,
    *,
    actor: Actor | None,
    action: str,
    subject_type: str = "",
    subject_id: int | None = None,
    detail: str = "",
) -> None:
    """Record who did what; staff reading personal data goes through here too."""
    session.add(
        AuditEvent(
            actor_id=actor.person.id if actor and actor.person else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=detail[:500],
            client_ip=actor.client_ip if actor else "",
        )
    )


async def audit_many(
    session: AsyncSession, *, actor: Actor | None, action: str, subject_type: str, subject_ids: list[int]
) -> None:
    """One audit line per subject, written in one statement (a staff member reading a list of households)."""
    if not subject_ids:
        return
    now = utcnow()
    await session.exec(
        insert(AuditEvent),
        params=[
            {
                "actor_id": actor.person.id if actor and actor.person else None,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "detail": "",
                "client_ip": actor.client_ip if actor else "",
                "created_at": now,
            }
            for subject_id in subject_ids
        ],
    )
