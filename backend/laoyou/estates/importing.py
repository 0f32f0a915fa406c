"""Bulk import of a community's units and households from the spreadsheets operators already keep.

One row is one unit: building, unit number, floor, area, head of household, phones, owner or tenant. The file
is read (.xlsx or .csv), turned into a plan of row outcomes without writing anything, and the plan is applied.
Rows are matched by their natural key (building name + unit number within the community), so importing the same
file twice changes nothing and a re-run after a crash applies only what is not there yet.

The checks are onboarding's: area parsing, text lengths, floors within the building, phones normalised.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import insert, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.i18n import gettext
from laoyou.core.phone import mask_phone, normalise_phone
from laoyou.core.time import utcnow
from laoyou.estates.models import Building, Household, Unit
from laoyou.estates.onboarding import checked_text, checked_whole, editable_community, parse_area

MAX_ROWS = 50_000
BATCH = 500
_CHUNK = 500  # keys per IN (...) query

# Column -> the headings that name it, compared lower-cased without spaces.
HEADINGS: dict[str, tuple[str, ...]] = {
    "building": ("楼栋", "building"),
    "unit": ("单元号", "房号", "单元号/房号", "unit", "unitnumber"),
    "floor": ("楼层", "floor"),
    "area": ("面积", "area", "floorarea"),
    "head": ("户主", "headofhousehold", "head"),
    "phones": ("电话", "phones", "phone"),
    "tenure": ("业主/租户", "业主租户", "ownerortenant", "tenure"),
}
REQUIRED = ("building", "unit", "floor", "area")
TEMPLATE_HEADER = ("楼栋", "单元号", "楼层", "面积", "户主", "电话", "业主/租户")
TEMPLATE_EXAMPLE = ("1号楼", "101", "1", "75.50", "张桂兰", "13812345678", "业主")
_TENURE = {"业主": "owner", "owner": "owner", "租户": "tenant", "tenant": "tenant"}
TENURE_WORDS = {"owner": "业主", "tenant": "租户"}  # as the file writes them


def _(message: str) -> str:
    """Marks a msgid for extraction; it is translated when shown (Problem.text)."""
    return message


_PHONE_SPLIT = re.compile(r"[,，、;；/\n]+")


@dataclass
class Problem:
    """A message (an English msgid) with its parameters, translated when shown."""

    message: str
    params: dict = field(default_factory=dict)

    def text(self, language: str | None = None) -> str:
        return gettext(self.message, language, **self.params)


@dataclass
class Row:
    line: int  # the spreadsheet's row number, header included
    building: str = ""
    number: str = ""
    floor: int = 1
    area_centi_m2: int = 0
    head: str = ""
    phones: list[str] = field(default_factory=list)
    tenure: str | None = None  # owner or tenant, given to the row's residents; blank leaves theirs as it is
    outcome: str = "new"  # new, changed, unchanged, error
    changes: list[Problem] = field(default_factory=list)
    error: Problem | None = None
    cell: str = ""  # "D7"
    column: str = ""  # the file's heading of that cell

    def fail(self, cell: str, column: str, problem: Problem) -> None:
        self.outcome, self.cell, self.column, self.error = "error", cell, column, problem


@dataclass
class Plan:
    community_id: int
    rows: list[Row]

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def errors(self) -> list[Row]:
        return [row for row in self.rows if row.outcome == "error"]


# --- reading the file ---------------------------------------------------------------------------------------


def _refuse() -> LaoyouError:
    return LaoyouError(ErrorCode.INVALID, "Please upload an .xlsx or .csv file.", field="file")


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """The file's rows as text cells. .xlsx is read with openpyxl; .csv as UTF-8 (with or without BOM) or
    GB18030, which Excel in China writes."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        return _read_xlsx(data)
    if name.endswith(".csv"):
        return _read_csv(data)
    raise _refuse()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(data: bytes) -> list[list[str]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _refuse() from None
    try:
        return [[_cell(v) for v in row] for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


def _read_csv(data: bytes) -> list[list[str]]:
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise _refuse() from None
    if "\x00" in text:
        raise _refuse()
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def parse_rows(table: list[list[str]], *, max_rows: int = MAX_ROWS) -> list[Row]:
    """Rows checked cell by cell; the first bad cell of a row makes it an error naming that cell."""
    lines = [(n, cells) for n, cells in enumerate(table, start=1) if any(cells)]
    if not lines:
        raise LaoyouError(ErrorCode.INVALID, "The file has no rows.", field="file")
    header_line, header = lines[0]
    where: dict[str, int] = {}
    for index, heading in enumerate(header):
        key = re.sub(r"\s+", "", heading).lower()
        for column, names in HEADINGS.items():
            if key in names and column not in where:
                where[column] = index
    for column in REQUIRED:
        if column not in where:
            raise LaoyouError(
                ErrorCode.INVALID,
                "The column %(column)s is missing.",
                field="file",
                column=HEADINGS[column][0],
            )
    if len(lines) - 1 > max_rows:
        raise LaoyouError(
            ErrorCode.INVALID, "Please import at most %(n)s rows at a time.", field="file", n=max_rows
        )
    return [_parse_row(line, cells, header, where) for line, cells in lines[1:]]


def _parse_row(line: int, cells: list[str], header: list[str], where: dict[str, int]) -> Row:
    row = Row(line=line)

    def get(column: str) -> str:
        index = where.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    current = ""
    try:
        current = "building"
        row.building = checked_text(get("building"), field=current, max_length=50)
        current = "unit"
        row.number = checked_text(get("unit"), field=current, max_length=20)
        current = "floor"
        try:
            row.floor = checked_whole(int(get("floor")), field=current, low=-5, high=200)
        except ValueError:
            raise LaoyouError(ErrorCode.INVALID, "Please enter a whole number.", field=current) from None
        current = "area"
        row.area_centi_m2 = parse_area(get("area"), field=current)
        current = "phones"
        row.phones = list(
            dict.fromkeys(
                normalise_phone(p, field=current) for p in _PHONE_SPLIT.split(get("phones")) if p.strip()
            )
        )
        current = "head"
        if get("head") or row.phones:
            row.head = checked_text(get("head"), field=current, max_length=50)
        current = "tenure"
        tenure = get("tenure").lower()
        if tenure and tenure not in _TENURE:
            raise LaoyouError(ErrorCode.INVALID, "Please write 业主 (owner) or 租户 (tenant).", field=current)
        row.tenure = _TENURE.get(tenure)
    except LaoyouError as exc:
        index = where.get(current, 0)
        heading = header[index] if index < len(header) else HEADINGS[current][0]
        row.fail(f"{_letter(index)}{line}", heading, Problem(exc.message, dict(exc.params)))
    return row


# --- the plan ------------------------------------------------------------------------------------------------


@dataclass
class _Existing:
    buildings: dict[str, Building]
    units: dict[tuple[int, str], Unit]
    households: dict[int, Household]
    residents: dict[
        int, dict[str, str | None]
    ]  # household id -> phone -> tenure, of its live resident grants


def _chunks(items: list, size: int = _CHUNK):  # noqa: ANN202
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _existing(session: AsyncSession, community_id: int, names: set[str]) -> _Existing:
    """What the community has in the buildings the file names: a file about two buildings does not load the
    units of twenty."""
    buildings = {
        b.name: b for b in await session.exec(select(Building).where(Building.community_id == community_id))
    }
    building_ids = [b.id for name, b in buildings.items() if name in names]
    units: dict[tuple[int, str], Unit] = {}
    households: dict[int, Household] = {}
    residents: dict[int, dict[str, str | None]] = {}
    for part in _chunks(building_ids):
        for u in await session.exec(select(Unit).where(col(Unit.building_id).in_(part))):
            units[(u.building_id, u.number)] = u
        homes = await session.exec(
            select(Household)
            .join(Unit, col(Unit.id) == Household.unit_id)
            .where(col(Unit.building_id).in_(part))
        )
        for h in homes:
            households[h.unit_id] = h
        found = await session.exec(
            select(RoleGrant.household_id, Person.phone, RoleGrant.tenure)
            .join(Person, col(Person.id) == RoleGrant.person_id)
            .join(Household, col(Household.id) == RoleGrant.household_id)
            .join(Unit, col(Unit.id) == Household.unit_id)
            .where(
                col(Unit.building_id).in_(part),
                RoleGrant.role == Role.resident.value,
                col(RoleGrant.revoked_at).is_(None),
            )
        )
        for household_id, phone, tenure in found:
            residents.setdefault(household_id, {})[phone] = tenure
    return _Existing(buildings, units, households, residents)


def _m2(centi: int) -> str:
    return f"{centi // 100}.{centi % 100:02d}"


async def plan_import(session: AsyncSession, *, actor: Actor, community_id: int, rows: list[Row]) -> Plan:
    """Each row's outcome against what the community has now; nothing is written."""
    community = await editable_community(session, actor, community_id)
    have = await _existing(session, community.id, {row.building for row in rows if row.outcome != "error"})
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.outcome == "error":
            continue
        key = (row.building, row.number)
        if key in seen:
            row.fail(
                f"A{row.line}", "", Problem(_("This unit is already on row %(row)s."), {"row": seen[key]})
            )
            continue
        seen[key] = row.line
        building = have.buildings.get(row.building)
        if building is not None and building.archived_at is not None:
            row.fail(f"A{row.line}", "", Problem(_("This building is archived.")))
            continue
        if building is not None and row.floor > building.floors:
            row.fail(
                f"C{row.line}",
                "",
                Problem(
                    _("Please enter a number from %(low)s to %(high)s."), {"low": -5, "high": building.floors}
                ),
            )
            continue
        unit = have.units.get((building.id, row.number)) if building is not None else None
        if unit is None:
            row.outcome = "new"
            continue
        if unit.archived_at is not None:
            row.fail(f"B{row.line}", "", Problem(_("This unit is archived.")))
            continue
        changes = row.changes
        if unit.floor != row.floor:
            changes.append(Problem(_("floor %(old)s → %(new)s"), {"old": unit.floor, "new": row.floor}))
        if unit.floor_area_centi_m2 != row.area_centi_m2:
            changes.append(
                Problem(
                    _("area %(old)s → %(new)s m²"),
                    {"old": _m2(unit.floor_area_centi_m2), "new": _m2(row.area_centi_m2)},
                )
            )
        household = have.households.get(unit.id)
        if household is not None and household.archived_at is not None:
            row.fail(f"B{row.line}", "", Problem(_("This home is archived.")))
            continue
        if row.head and (household is None or household.head_name != row.head):
            old = household.head_name if household else "—"
            changes.append(Problem(_("head of household %(old)s → %(new)s"), {"old": old, "new": row.head}))
        living = have.residents.get(household.id, {}) if household else {}
        for phone in row.phones:
            if phone not in living:
                changes.append(Problem(_("new resident %(phone)s"), {"phone": mask_phone(phone)}))
            elif row.tenure is not None and living[phone] != row.tenure:
                changes.append(
                    Problem(
                        _("owner or tenant of %(phone)s %(old)s → %(new)s"),
                        {
                            "phone": mask_phone(phone),
                            "old": TENURE_WORDS.get(living[phone], "—"),
                            "new": TENURE_WORDS[row.tenure],
                        },
                    )
                )
        row.outcome = "changed" if changes else "unchanged"
    return Plan(community_id=community.id, rows=rows)


# --- applying it -------------------------------------------------------------------------------------------------


async def apply_import(
    session: AsyncSession,
    *,
    actor: Actor,
    plan: Plan,
    batch: int = BATCH,
    on_batch: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Write the plan's new and changed rows, flushing every `batch` rows (`on_batch` may commit, so that a
    re-run after a crash finds the finished batches and plans only the rest). Refuses a plan with errors.
    Returns the number of rows written."""
    if plan.errors:
        raise LaoyouError(ErrorCode.INVALID, "Please correct the rows with errors first.")
    community = await editable_community(session, actor, plan.community_id)
    todo = [row for row in plan.rows if row.outcome in ("new", "changed")]
    have = await _existing(session, community.id, {row.building for row in todo})
    floors: dict[str, int] = {}
    for row in todo:
        floors[row.building] = max(floors.get(row.building, 1), row.floor)
    for name, top in floors.items():
        if name not in have.buildings:
            building = Building(
                community_id=community.id, district_id=community.district_id, name=name, floors=top
            )
            session.add(building)
            have.buildings[name] = building
    await session.flush()
    for part in _chunks(todo, batch):
        await _apply_batch(session, community.id, community.district_id, have, part)
        if on_batch is not None:
            await on_batch()
    return len(todo)


async def _apply_batch(
    session: AsyncSession, community_id: int, district_id: int, have: _Existing, rows: list[Row]
) -> None:
    # New rows go in with one executemany per table (the ORM's per-object bookkeeping was most of the time);
    # rows that change an existing unit or household are few and go through the ORM.
    scope = {"community_id": community_id, "district_id": district_id}
    unit_of: dict[int, int] = {}  # row line -> unit id
    fresh: list[Row] = []
    for row in rows:
        building = have.buildings[row.building]
        unit = have.units.get((building.id, row.number))
        if unit is None:
            fresh.append(row)
        else:
            unit.floor, unit.floor_area_centi_m2 = row.floor, row.area_centi_m2
            unit_of[row.line] = unit.id
    if fresh:
        ids = await _insert(
            session,
            Unit,
            [
                {
                    "building_id": have.buildings[row.building].id,
                    "number": row.number,
                    "floor": row.floor,
                    "floor_area_centi_m2": row.area_centi_m2,
                    **scope,
                }
                for row in fresh
            ],
        )
        unit_of.update({row.line: unit_id for row, unit_id in zip(fresh, ids, strict=True)})
    headed = [row for row in rows if row.head]
    home_of: dict[int, int] = {}  # row line -> household id
    homeless: list[Row] = []
    for row in headed:
        household = have.households.get(unit_of[row.line])
        if household is None:
            homeless.append(row)
        else:
            household.head_name = row.head
            home_of[row.line] = household.id
    if homeless:
        now = utcnow()
        ids = await _insert(
            session,
            Household,
            [
                {"unit_id": unit_of[row.line], "head_name": row.head, "created_at": now, **scope}
                for row in homeless
            ],
        )
        home_of.update({row.line: home_id for row, home_id in zip(homeless, ids, strict=True)})
    await session.flush()
    phones = list({phone for row in headed for phone in row.phones})
    people: dict[str, int] = {}
    for part in _chunks(phones):
        found = await session.exec(select(Person.phone, Person.id).where(col(Person.phone).in_(part)))
        people.update(dict(found.all()))
    newcomers: dict[str, str] = {}
    for row in headed:
        for index, phone in enumerate(row.phones):
            if phone not in people:
                # The first phone is the head's; the others' names are not in the sheet.
                newcomers.setdefault(phone, row.head if index == 0 else "")
    if newcomers:
        now = utcnow()
        ids = await _insert(
            session,
            Person,
            [{"phone": phone, "name": name, "created_at": now} for phone, name in newcomers.items()],
        )
        people.update(zip(newcomers, ids, strict=True))
    grants = []
    retenured: dict[str | None, list[tuple[int, int]]] = {}  # tenure -> (person, household) to update
    for row in headed:
        household_id = home_of[row.line]
        living = have.residents.setdefault(household_id, {})
        for phone in row.phones:
            if phone not in living:
                grants.append(resident_grant(people[phone], household_id, tenure=row.tenure, **scope))
                living[phone] = row.tenure
            elif row.tenure is not None and living[phone] != row.tenure:
                retenured.setdefault(row.tenure, []).append((people[phone], household_id))
                living[phone] = row.tenure
    if grants:
        await session.execute(insert(RoleGrant), grants)
    for tenure, pairs in retenured.items():
        for part in _chunks(pairs):
            await session.execute(
                update(RoleGrant)
                .where(
                    tuple_(RoleGrant.person_id, RoleGrant.household_id).in_(part),
                    RoleGrant.role == Role.resident.value,
                    col(RoleGrant.revoked_at).is_(None),
                )
                .values(tenure=tenure)
            )


async def _insert(session: AsyncSession, model: type, values: list[dict]) -> list[int]:
    """One executemany; the new ids in the order of `values`."""
    found = await session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), values)
    return list(found.scalars())


def resident_grant(
    person_id: int, household_id: int, *, community_id: int, district_id: int, tenure: str | None = None
) -> dict:
    """The role grant that makes a person a resident of a household, as a row to insert (the caller checks
    they are not one already); its scope is what accounts.check_grant_scope asks of a resident."""
    return {
        "person_id": person_id,
        "role": Role.resident.value,
        "district_id": district_id,
        "community_id": community_id,
        "household_id": household_id,
        "on_duty": False,
        "tenure": tenure,
        "created_at": utcnow(),
    }


# --- the template ----------------------------------------------------------------------------------------------


def template_csv() -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese headings correctly."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TEMPLATE_HEADER)
    writer.writerow(TEMPLATE_EXAMPLE)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def template_xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(TEMPLATE_HEADER))
    sheet.append(list(TEMPLATE_EXAMPLE))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
