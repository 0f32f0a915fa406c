"""Files and people shared by the media tests."""

from __future__ import annotations

import struct
import zlib

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.settings import Settings
from laoyou.estates.models import Household


def png_of_one_colour(side: int, *, alpha: bool = False) -> bytes:
    """A PNG of side×side white pixels: a few KB that decode to side²×4 bytes (a decompression bomb when big)."""
    colour_type, channels = (6, 4) if alpha else (2, 3)
    row = b"\0" + b"\xff" * (side * channels)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def new_resident(
    db: AsyncSession, settings: Settings, *, community_id: int, phone: str, not_household: int | None = None
) -> str:
    """A resident of a household of this community (not the given one), logged in; their bearer token."""
    query = select(Household).where(Household.community_id == community_id).order_by(Household.id)
    if not_household is not None:
        query = query.where(Household.id != not_household)
    household = (await db.exec(query)).first()
    person = Person(phone=phone, name="邻居")
    db.add(person)
    await db.flush()
    db.add(
        RoleGrant(
            person_id=person.id,
            role=Role.resident.value,
            district_id=household.district_id,
            community_id=community_id,
            household_id=household.id,
        )
    )
    await db.flush()
    started = await accounts.do_start_session(
        db, settings=settings, person=person, kind="bearer", method="code", user_agent="test"
    )
    return started.token
