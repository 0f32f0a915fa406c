"""GraphQL for the staff pages' bulk import: upload and preview, confirm, discard (estates.import_review)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from laoyou.estates import import_review, models
from laoyou.estates.onboarding import editable_community
from laoyou.estates.schema import Community
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsStaff
from laoyou.graphql.types import decode_id, encode_id

MAX_SHOWN = 200  # rows per page of a preview

EstateImportStatus = strawberry.enum(
    Enum("EstateImportStatus", {"PENDING": "pending", "APPLIED": "applied", "DISCARDED": "discarded"}),
    description="Pending until it is confirmed (applied) or discarded.",
)
EstateImportOutcome = strawberry.enum(
    Enum(
        "EstateImportOutcome",
        {"NEW": "new", "CHANGED": "changed", "UNCHANGED": "unchanged", "ERROR": "error"},
    ),
    description="What importing a row does to the community.",
)


@strawberry.type(description="One row of an import's preview.")
class EstateImportRow:
    line: int = strawberry.field(description="The spreadsheet's row number, the heading row being 1.")
    building: str
    unit: str
    outcome: EstateImportOutcome  # type: ignore[valid-type]
    outcome_text: str = strawberry.field(description="The outcome in plain words, in the caller's language.")
    cell: str = strawberry.field(description="The cell of the mistake, e.g. D7; empty without one.")
    column: str = strawberry.field(description="The file's heading of that cell.")
    problem: str | None = strawberry.field(description="The mistake, in the caller's language.")
    changes: list[str] = strawberry.field(description="What an existing unit's row changes, in words.")


@strawberry.type(description="A spreadsheet uploaded for a community's bulk import.")
class EstateImport:
    row: strawberry.Private[models.EstateImport]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    def filename(self) -> str:
        return self.row.filename

    @strawberry.field
    def status(self) -> EstateImportStatus:  # type: ignore[valid-type]
        return EstateImportStatus(self.row.status)

    @strawberry.field
    def uploaded_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="Rows of the file, the heading row not counted.")
    def row_count(self) -> int:
        return self.row.rows

    @strawberry.field
    def new_count(self) -> int:
        return self.row.new_count

    @strawberry.field
    def changed_count(self) -> int:
        return self.row.changed_count

    @strawberry.field
    def unchanged_count(self) -> int:
        return self.row.unchanged_count

    @strawberry.field
    def error_count(self) -> int:
        return self.row.error_count

    @strawberry.field(description="Pending, without mistakes, and with something to write.")
    def can_confirm(self) -> bool:
        row = self.row
        return row.status == "pending" and not row.error_count and bool(row.new_count + row.changed_count)

    @strawberry.field(description="How many rows `rows` lists in all: every row but the unchanged.")
    def shown_count(self) -> int:
        return import_review.shown_rows(self.row)

    @strawberry.field(
        description="Mistakes first, then changes, then new units; unchanged rows are only counted."
    )
    def rows(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="At most 200.")] = 50,
        offset: int = 0,
    ) -> list[EstateImportRow]:
        found = import_review.review_rows(
            self.row,
            offset=max(offset, 0),
            limit=min(max(first, 0), MAX_SHOWN),
            language=info.context.language,
        )
        return [
            EstateImportRow(
                line=r.line,
                building=r.building,
                unit=r.unit,
                outcome=EstateImportOutcome(r.outcome),
                outcome_text=import_review.outcome_text(self.row, r.outcome, info.context.language),
                cell=r.cell,
                column=r.column,
                problem=r.problem,
                changes=r.changes,
            )
            for r in found
        ]


EstateImportError = error_type("EstateImportError")


@strawberry.type
class EstateImportSaved:
    estate_import: EstateImport


EstateImportResult = result_union("EstateImportResult", EstateImportSaved, EstateImportError)


async def _read(file: object) -> tuple[str, bytes]:
    """The upload's name and bytes, read no further than the limit; anything else (a string sent as JSON) is
    no file."""
    read = getattr(file, "read", None)
    if read is None:
        return "", b""
    return str(getattr(file, "filename", "") or ""), await read(import_review.MAX_BYTES + 1)


@strawberry.type
class EstateImportQuery:
    @strawberry.field(
        permission_classes=[IsStaff], description="The community, when the viewer may import into it."
    )
    async def estate_import_community(self, info: Info, id: strawberry.ID) -> Community:
        row = await editable_community(info.context.session, info.context.actor, decode_id(id))
        return Community(row=row)

    @strawberry.field(permission_classes=[IsStaff], description="The community's admin or district steward.")
    async def estate_import(self, info: Info, id: strawberry.ID) -> EstateImport:
        row = await import_review.access_import(
            info.context.session, actor=info.context.actor, import_id=decode_id(id)
        )
        return EstateImport(row=row)


@strawberry.type
class EstateImportMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Read an .xlsx or .csv file of units and plan it; nothing is imported until it is confirmed.",
    )
    async def preview_estate_import(
        self, info: Info, community_id: strawberry.ID, file: Upload
    ) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            filename, data = await _read(file)
            row = await import_review.do_preview_import(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                filename=filename,
                data=data,
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Plan the previewed file again against the community as it is now, and import it.",
    )
    async def confirm_estate_import(self, info: Info, id: strawberry.ID) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            row = await import_review.do_confirm_import(
                context.session, actor=context.actor, import_id=decode_id(id)
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="Drop a pending import and its file.")
    async def discard_estate_import(self, info: Info, id: strawberry.ID) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            row = await import_review.do_discard_import(
                context.session, actor=context.actor, import_id=decode_id(id)
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)
