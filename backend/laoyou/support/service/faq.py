"""The FAQ: who may keep it, and the plain overlap that finds the answer to a question."""

from __future__ import annotations

import re
from itertools import pairwise

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.support.models import FaqEntry


async def staff_district_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    """Districts the actor works in as an agent or steward (these may keep the FAQ)."""
    if actor.is_admin:
        return None
    ids = {g.district_id for g in actor.grants_of(Role.agent, Role.steward) if g.district_id}
    community_ids = {g.community_id for g in actor.grants_of(Role.steward) if g.community_id}
    if community_ids:
        ids.update(
            await session.exec(select(Community.district_id).where(col(Community.id).in_(community_ids)))
        )
    return ids


# --- the FAQ ------------------------------------------------------------------------------------------


_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "i",
    "my",
    "me",
    "to",
    "of",
    "how",
    "do",
    "can",
    "what",
    "when",
    "where",
    "it",
}


def _grams(text: str) -> set[str]:
    """Chinese character pairs plus English words: a plain overlap that needs no dictionary."""
    text = text.lower()
    han = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
    grams = {a + b for a, b in pairwise(han)}
    grams.update(w for w in _WORD.findall(text) if w not in _STOP and len(w) > 1)
    return grams


def match_faq(entries: list[FaqEntry], text: str) -> FaqEntry | None:
    """The entry whose question (and keywords) share the most with the text; None below a small threshold."""
    asked = _grams(text)
    if not asked:
        return None
    best, best_score = None, 0.0
    for entry in entries:
        keywords = [k for k in (entry.keywords or "").lower().split() if k]
        score = 3.0 * sum(1 for k in keywords if k in text.lower())
        question = _grams(entry.question)
        if question:
            score += len(asked & question) + len(asked & question) / len(question)
        if score > best_score:
            best, best_score = entry, score
    return best if best_score >= 2 else None


async def list_faq(session: AsyncSession, *, actor: Actor, district_id: int | None = None) -> list[FaqEntry]:
    """Residents read their district's FAQ; staff read the districts they serve."""
    actor.require_login()
    visible = await estates.visible_district_ids(session, actor)
    query = select(FaqEntry).order_by(FaqEntry.id)
    if district_id is not None:
        if visible is not None and district_id not in visible:
            raise NotFound()
        query = query.where(FaqEntry.district_id == district_id)
    elif visible is not None:
        query = query.where(col(FaqEntry.district_id).in_(visible))
    return list(await session.exec(query))


async def check_faq_keeper(session: AsyncSession, actor: Actor, district_id: int) -> None:
    actor.require_login()
    districts = await staff_district_ids(session, actor)
    if districts is not None and district_id not in districts:
        raise NotFound()


async def do_save_faq(
    session: AsyncSession,
    *,
    actor: Actor,
    district_id: int | None,
    entry_id: int | None,
    question: str,
    answer: str,
    keywords: str = "",
) -> FaqEntry:
    question, answer, keywords = (
        (question or "").strip(),
        (answer or "").strip(),
        " ".join((keywords or "").split()),
    )
    if entry_id is not None:
        entry = await session.get(FaqEntry, entry_id)
        if entry is None:
            raise NotFound()
        await check_faq_keeper(session, actor, entry.district_id)
    else:
        if district_id is None:
            raise NotFound()
        await check_faq_keeper(session, actor, district_id)
        entry = FaqEntry(district_id=district_id, question="", answer="")
    if not (0 < len(question) <= 200):
        raise LaoyouError(ErrorCode.INVALID, "A question has 1 to 200 characters.", field="question")
    if not (0 < len(answer) <= 2000):
        raise LaoyouError(ErrorCode.INVALID, "An answer has 1 to 2000 characters.", field="answer")
    if len(keywords) > 300:
        raise LaoyouError(ErrorCode.INVALID, "Keywords have at most 300 characters.", field="keywords")
    check_text(question, field="question")
    check_text(answer, field="answer")
    check_text(keywords, field="keywords")
    entry.question, entry.answer, entry.keywords = question, answer, keywords
    entry.updated_by_id, entry.updated_at = actor.person_id, utcnow()
    session.add(entry)
    await session.flush()
    return entry


async def do_delete_faq(session: AsyncSession, *, actor: Actor, entry_id: int) -> None:
    entry = await session.get(FaqEntry, entry_id)
    if entry is None:
        raise NotFound()
    await check_faq_keeper(session, actor, entry.district_id)
    await session.delete(entry)
    await session.flush()
