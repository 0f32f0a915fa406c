"""Estate import pages: the downloadable template (one heading row and one example row) in .xlsx and .csv.
The upload, preview and confirm pages are still to come; the import itself runs as `laoyou import-estates`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.estates.importing import template_csv, template_xlsx
from laoyou.web.render import Page, PageRoute, add_pages

TEMPLATE = "/staff/estates/import-template"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def template_xlsx_file(page: Page) -> Response:
    # The template holds no one's data, only headings and an example, so no operation is run.
    return Response(
        template_xlsx(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="estate-import.xlsx"'},
    )


async def template_csv_file(page: Page) -> Response:
    return Response(
        template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="estate-import.csv"'},
    )


PAGES = (
    PageRoute("GET", TEMPLATE + ".xlsx", template_xlsx_file, staff=True),
    PageRoute("GET", TEMPLATE + ".csv", template_csv_file, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
