"""What every part of billing shares: the log, who may write to or read a community's books, and the small checks
of an idempotent request."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing.models import Fund
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.estates import service as estates
from laoyou.estates.models import Community

log = logging.getLogger("laoyou.billing")


PF = Fund.property_fee


def billing_channel(community_id: int) -> str:
    return f"billing:{community_id}"


async def _communities_of(session: AsyncSession, actor: Actor, *roles: Role) -> set[int] | None:
    """Communities the actor's grants of these roles cover (district grants and 挂单 included); None = all."""
    if actor.is_admin:
        return None
    narrowed = Actor(person=actor.person, grants=actor.grants_of(*roles))
    found = await estates.staff_community_ids(session, narrowed)
    return set() if found is None else found


async def writable_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    actor.require_login()
    return await _communities_of(session, actor, Role.steward)


async def books_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    """Who reads a community's books: its stewards, its officials, the admin."""
    actor.require_login()
    return await _communities_of(session, actor, Role.steward, Role.official)


async def check_can_write(session: AsyncSession, actor: Actor, community_id: int) -> None:
    allowed = await writable_community_ids(session, actor)
    if allowed is not None and community_id not in allowed:
        readable = await estates.staff_community_ids(session, actor)
        if readable is None or community_id in readable:
            raise PermissionDenied()
        raise NotFound()


async def check_can_read_books(session: AsyncSession, actor: Actor, community_id: int) -> None:
    allowed = await books_community_ids(session, actor)
    if allowed is not None and community_id not in allowed:
        raise NotFound()


async def load_community(session: AsyncSession, community_id: int) -> Community:
    """The community or NotFound; not scoped: the caller checks what the actor may do there."""
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound()
    return community


def request_fingerprint(**params: Any) -> str:
    """What an idempotent request asked for, so that a retry is told apart from other details under one key."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def check_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if not 8 <= len(key) <= 64:
        raise LaoyouError(
            ErrorCode.INVALID,
            "The request needs an idempotency key of 8 to 64 characters.",
            field="idempotencyKey",
        )
    return key
