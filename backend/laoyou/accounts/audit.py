"""The audit trail: who did what, and which staff read whose personal data."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import col, select
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


# A staff member reading the same person's data again this soon is the same reading: a page that refreshes
# itself (a live work order, the SOS alerts on the staff home) would otherwise write a line per refresh.
SAME_READING = timedelta(minutes=10)


async def audit_many(
    session: AsyncSession,
    *,
    actor: Actor | None,
    action: str,
    subject_type: str,
    subject_ids: list[int],
    reading: bool = False,
) -> None:
    """One audit line per subject, written in one statement (a staff member reading a list of households).
    A reading (reading=True) of a subject this actor read within SAME_READING is already on record."""
    now = utcnow()
    actor_id = actor.person.id if actor and actor.person else None
    if reading and subject_ids and actor_id is not None:
        recent = await session.exec(
            select(AuditEvent.subject_id).where(
                AuditEvent.actor_id == actor_id,
                AuditEvent.action == action,
                AuditEvent.subject_type == subject_type,
                col(AuditEvent.subject_id).in_(subject_ids),
                AuditEvent.created_at >= now - SAME_READING,
            )
        )
        already = set(recent)
        subject_ids = [subject_id for subject_id in subject_ids if subject_id not in already]
    if not subject_ids:
        return
    await session.exec(
        insert(AuditEvent),
        params=[
            {
                "actor_id": actor_id,
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
