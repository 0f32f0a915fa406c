"""The staff pages' bulk import: a spreadsheet is uploaded and planned into a pending import that shows each
row's outcome, then confirmed (planned again against the database as it is then, and applied) or discarded.

Who may is the importer's rule: the community's admin or the steward of its district (editable_community).
A new upload for a community replaces the community's earlier pending one, so at most one waits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.i18n import gettext
from laoyou.core.time import utcnow
from laoyou.estates.importing import Plan, Problem, apply_import, parse_rows, plan_import, read_table
from laoyou.estates.models import EstateImport
from laoyou.estates.onboarding import editable_community

MAX_BYTES = 5 * 1024 * 1024  # a 20,000-row sheet is about 1 MB as .xlsx and 1.5 MB as .csv
MAX_ROWS = 20_000  # planned and applied within one request; the command takes larger files
_ORDER = {"error": 0, "changed": 1, "new": 2}  # what a person must look at first


def _(message: str) -> str:
    """Marks a msgid for extraction; it is translated when shown."""
    return message


@dataclass
class ReviewRow:
    """One row of the preview as it is shown: its outcome, the cell of its error, its changes."""

    line: int
    building: str
    unit: str
    outcome: str
    cell: str
    column: str
    problem: str | None
    changes: list[str]


def _problem(entry: list | None, language: str | None) -> str | None:
    return Problem(entry[0], entry[1]).text(language) if entry else None


def _summary(plan: Plan) -> list[dict]:
    shown = sorted(
        (r for r in plan.rows if r.outcome != "unchanged"), key=lambda r: (_ORDER[r.outcome], r.line)
    )
    return [
        {
            "line": r.line,
            "building": r.building,
            "unit": r.number,
            "outcome": r.outcome,
            "cell": r.cell,
            "column": r.column,
            "error": [r.error.message, r.error.params] if r.error else None,
            "changes": [[c.message, c.params] for c in r.changes],
        }
        for r in shown
    ]


def _record(row: EstateImport, plan: Plan) -> None:
    row.rows = len(plan.rows)
    row.new_count, row.changed_count = plan.count("new"), plan.count("changed")
    row.unchanged_count, row.error_count = plan.count("unchanged"), plan.count("error")
    row.preview = json.dumps(_summary(plan), ensure_ascii=False)


def review_rows(row: EstateImport, *, offset: int, limit: int, language: str | None) -> list[ReviewRow]:
    """The preview's rows from `offset`: errors first, then changes, then new units (unchanged ones are only
    counted)."""
    return [
        ReviewRow(
            line=entry["line"],
            building=entry["building"],
            unit=entry["unit"],
            outcome=entry["outcome"],
            cell=entry["cell"],
            column=entry["column"],
            problem=_problem(entry["error"], language),
            changes=[Problem(message, params).text(language) for message, params in entry["changes"]],
        )
        for entry in json.loads(row.preview)[offset : offset + limit]
    ]


def shown_rows(row: EstateImport) -> int:
    """How many rows the preview lists (all but the unchanged)."""
    return row.new_count + row.changed_count + row.error_count


async def _plan(session: AsyncSession, actor: Actor, community_id: int, filename: str, data: bytes) -> Plan:
    rows = parse_rows(read_table(filename, data), max_rows=MAX_ROWS)
    return await plan_import(session, actor=actor, community_id=community_id, rows=rows)


async def do_preview_import(
    session: AsyncSession, *, actor: Actor, community_id: int, filename: str, data: bytes
) -> EstateImport:
    """Read and plan an uploaded file, and keep it as the community's pending import (replacing an earlier
    one). Nothing of the estate is written; a file that cannot be read is refused and nothing is kept."""
    community = await editable_community(session, actor, community_id)
    if not data:
        raise LaoyouError(ErrorCode.INVALID, "Please choose a file.", field="file")
    if len(data) > MAX_BYTES:
        raise LaoyouError(
            ErrorCode.INVALID,
            "This file is too large. The limit is %(mb)s MB.",
            field="file",
            mb=MAX_BYTES // (1024 * 1024),
        )
    filename = filename.strip()[-200:] or "import"
    plan = await _plan(session, actor, community.id, filename, data)
    now = utcnow()
    earlier = await session.exec(
        select(EstateImport).where(
            EstateImport.community_id == community.id, EstateImport.status == "pending"
        )
    )
    for old in earlier:
        old.status, old.data, old.decided_at, old.decided_by_id = "discarded", None, now, actor.person.id
        session.add(old)
    row = EstateImport(
        community_id=community.id,
        district_id=community.district_id,
        person_id=actor.person.id,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_at=now,
    )
    _record(row, plan)
    session.add(row)
    await session.flush()
    return row


async def access_import(session: AsyncSession, *, actor: Actor, import_id: int) -> EstateImport:
    """A pending or finished import of a community the actor may edit, or NotFound."""
    actor.require_login()
    row = await session.get(EstateImport, import_id)
    if row is None:
        raise NotFound()
    await editable_community(session, actor, row.community_id)
    return row


def _check_pending(row: EstateImport) -> None:
    if row.status != "pending" or row.data is None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This import was already confirmed or discarded.")


def _finish(row: EstateImport, actor: Actor, status: str) -> None:
    row.status, row.data, row.decided_at, row.decided_by_id = status, None, utcnow(), actor.person.id


async def do_confirm_import(session: AsyncSession, *, actor: Actor, import_id: int) -> EstateImport:
    """Plan the kept file again against the estate as it is now and apply it, all in this unit of work.

    A preview with errors is refused; so is one that has errors now (someone archived a building since): the
    preview is then brought up to date so that the page shows them."""
    row = await access_import(session, actor=actor, import_id=import_id)
    _check_pending(row)
    if row.error_count:
        raise LaoyouError(
            ErrorCode.INVALID,
            "Some rows have mistakes, so nothing was imported. Please fix them in the file and upload it again.",
        )
    # Claimed before the work, so that two confirmations at once apply it once (the second is refused here).
    claimed = await session.execute(
        update(EstateImport)
        .where(col(EstateImport.id) == row.id, col(EstateImport.status) == "pending")
        .values(status="applying")
    )
    if claimed.rowcount != 1:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This import was already confirmed or discarded.")
    plan = await _plan(session, actor, row.community_id, row.filename, row.data)
    _record(row, plan)
    session.add(row)
    if plan.errors:
        row.status = "pending"  # what is kept of a refusal is the preview brought up to date
        await session.flush()
        raise LaoyouError(
            ErrorCode.INVALID,
            "Some rows have mistakes now, because the community changed since the preview. Nothing was "
            "imported. Please fix them in the file and upload it again.",
        )
    await apply_import(session, actor=actor, plan=plan)
    _finish(row, actor, "applied")
    await audit(
        session,
        actor=actor,
        action="estates.import",
        subject_type="community",
        subject_id=row.community_id,
        detail=f"import {row.id}: new {row.new_count}, changed {row.changed_count}",
    )
    await session.flush()
    return row


async def do_discard_import(session: AsyncSession, *, actor: Actor, import_id: int) -> EstateImport:
    """Drop a pending import and its file; nothing of the estate changes."""
    row = await access_import(session, actor=actor, import_id=import_id)
    _check_pending(row)
    _finish(row, actor, "discarded")
    session.add(row)
    await session.flush()
    return row


def outcome_text(row: EstateImport, outcome: str, language: str | None) -> str:
    """A row's outcome in plain words: what it will do, or once applied what it did."""
    words = DONE_WORDS if row.status == "applied" else OUTCOME_WORDS
    return gettext(words[outcome], language)


OUTCOME_WORDS = {
    "new": _("Will be added"),
    "changed": _("Will be updated"),
    "unchanged": _("No change"),
    "error": _("Has a mistake"),
}
DONE_WORDS = {
    "new": _("Added"),
    "changed": _("Updated"),
    "unchanged": _("No change"),
    "error": _("Has a mistake"),
}
