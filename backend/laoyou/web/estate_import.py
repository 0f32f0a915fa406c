"""Estate import pages: the downloadable template, and a community's bulk import in three steps: upload a
spreadsheet, look at the preview (each row's outcome), confirm or discard it; then the result.

The upload is a multipart form; the page hands its file to the PreviewEstateImport operation, which reads,
plans and keeps it. The service decides who may (the community's admin or district steward)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from laoyou.core import i18n
from laoyou.core.errors import NotFound
from laoyou.estates.import_review import MAX_BYTES, MAX_ROWS
from laoyou.estates.importing import template_csv, template_xlsx
from laoyou.graphql.router import check_csrf
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

TEMPLATE = "/staff/estates/import-template"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORT = "/staff/communities/{community_id}/import"
SHOWN = 100  # preview rows per page


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


def _import_url(community_id: str, import_id: str | None = None) -> str:
    url = IMPORT.format(community_id=community_id)
    return f"{url}/{import_id}" if import_id else url


# --- step 1: the upload ------------------------------------------------------------------------------------


async def upload_form(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    community = (await page.run("EstateImportStart", communityId=page.request.path_params["community_id"]))[
        "estateImportCommunity"
    ]
    return page.render(
        "estates/import.html",
        status_code=status_code,
        community=community,
        template_url=TEMPLATE,
        limit_mb=MAX_BYTES // (1024 * 1024),
        limit_rows=MAX_ROWS,
        error=error,
    )


async def upload(page: Page) -> Response:
    request = page.request
    language = page.context.language
    if int(request.headers.get("content-length") or 0) > MAX_BYTES + 64 * 1024:
        too_large = i18n.gettext(
            "This file is too large. The limit is %(mb)s MB.", language, mb=MAX_BYTES // (1024 * 1024)
        )
        return await upload_form(page, error=too_large, status_code=413)
    form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_BYTES + 1024)
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return await upload_form(page, error=i18n.gettext("Please choose a file.", language), status_code=400)
    community_id = request.path_params["community_id"]
    result = (await page.run("PreviewEstateImport", communityId=community_id, file=file))[
        "previewEstateImport"
    ]
    if result["__typename"] != "EstateImportSaved":
        return await upload_form(page, error=result["message"], status_code=400)
    return page.redirect(_import_url(community_id, result["estateImport"]["id"]))


# --- step 2: the preview, and step 3: the result ------------------------------------------------------------


async def _estate_import(page: Page, offset: int = 0) -> dict[str, Any]:
    found = (
        await page.run(
            "EstateImportPage", id=page.request.path_params["import_id"], first=SHOWN, offset=offset
        )
    )["estateImport"]
    if found["community"]["id"] != page.request.path_params["community_id"]:
        raise NotFound()
    return found


async def preview(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    shown_from = page.request.query_params.get("from", "0")
    offset = int(shown_from) if shown_from.isdigit() and len(shown_from) < 7 else 0
    found = await _estate_import(page, offset)
    following = offset + SHOWN
    return page.render(
        "estates/import_preview.html",
        status_code=status_code,
        found=found,
        url=_import_url(found["community"]["id"], found["id"]),
        offset=offset,
        following=following if following < found["shownCount"] else None,
        previous=max(offset - SHOWN, 0) if offset else None,
        error=error,
    )


async def _decide(page: Page, operation: str, field: str) -> Response:
    await form_with_csrf(page.request)
    found = await _estate_import(page)
    result = (await page.run(operation, id=found["id"]))[field]
    if result["__typename"] != "EstateImportSaved":
        return await preview(page, error=result["message"], status_code=400)
    return page.redirect(_import_url(found["community"]["id"], found["id"]))


async def confirm(page: Page) -> Response:
    return await _decide(page, "ConfirmEstateImport", "confirmEstateImport")


async def discard(page: Page) -> Response:
    return await _decide(page, "DiscardEstateImport", "discardEstateImport")


PAGES = (
    PageRoute("GET", TEMPLATE + ".xlsx", template_xlsx_file, staff=True),
    PageRoute("GET", TEMPLATE + ".csv", template_csv_file, staff=True),
    PageRoute("GET", IMPORT, upload_form, staff=True),
    PageRoute("POST", IMPORT, upload, staff=True),
    PageRoute("GET", IMPORT + "/{import_id}", preview, staff=True),
    PageRoute("POST", IMPORT + "/{import_id}/confirm", confirm, staff=True),
    PageRoute("POST", IMPORT + "/{import_id}/discard", discard, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
