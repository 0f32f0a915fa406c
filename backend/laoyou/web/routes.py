"""The PWA's app-level wiring: templates, the error page, manifest, service worker, the operations file, the
favicon, and each page group's install. The pages themselves live one module per page group under web/, each
with its table of small named handlers; every page runs the PWA's own persisted operations and renders a
template, no JS needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from laoyou.core import i18n
from laoyou.web.assets import HashedStaticFiles, StaticAssets
from laoyou.web.render import Page, make_templates


def install_web(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.assets = StaticAssets(settings.pwa_dir / "static")
    app.state.templates = make_templates(settings)
    app.state.templates.globals["static_url"] = app.state.assets.url
    app.state.service_worker = service_worker_source(settings.pwa_dir / "sw.js", app.state.assets)
    from laoyou.web import assessment as assessment_pages
    from laoyou.web import billing as billing_pages
    from laoyou.web import briefings as briefing_pages
    from laoyou.web import cards as card_pages
    from laoyou.web import care as care_pages
    from laoyou.web import chat as chat_pages
    from laoyou.web import desk as desk_pages
    from laoyou.web import disclosures as disclosure_pages
    from laoyou.web import estate_import as estate_import_pages
    from laoyou.web import estates as estate_pages
    from laoyou.web import family as family_pages
    from laoyou.web import home as home_pages
    from laoyou.web import link_requests as link_request_pages
    from laoyou.web import login as login_pages
    from laoyou.web import media, open311, voice_reports
    from laoyou.web import notify as notify_pages
    from laoyou.web import reach as reach_pages
    from laoyou.web import repairs as repair_pages
    from laoyou.web import residents as resident_pages
    from laoyou.web import sensors as sensor_pages
    from laoyou.web import settings as settings_pages
    from laoyou.web import staff as staff_pages
    from laoyou.web import votes as vote_pages
    from laoyou.web import wechat_link as wechat_link_pages
    from laoyou.web import work_orders as work_order_pages

    media.install(app)
    repair_pages.install(app)
    work_order_pages.install(app)
    chat_pages.install(app)
    desk_pages.install(app)
    billing_pages.install(app)
    briefing_pages.install(app)
    disclosure_pages.install(app)
    notify_pages.install(app)
    wechat_link_pages.install(app)
    reach_pages.install(app)
    estate_pages.install(app)
    estate_import_pages.install(app)
    staff_pages.install(app)
    vote_pages.install(app)
    care_pages.install(app)
    assessment_pages.install(app)
    open311.install(app)
    voice_reports.install(app)
    app.mount("/static", HashedStaticFiles(app.state.assets), name="static")
    # Starlette's own 404 and 405 (no such page) come as its HTTPException, FastAPI's as a subclass.
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_api_route("/manifest.webmanifest", manifest, methods=["GET"], include_in_schema=False)
    app.add_api_route("/sw.js", service_worker, methods=["GET"], include_in_schema=False)
    app.add_api_route("/operations.json", operations, methods=["GET"], include_in_schema=False)
    home_pages.install(app)
    login_pages.install(app)
    family_pages.install(app)
    settings_pages.install(app)
    card_pages.install(app)
    resident_pages.install(app)
    sensor_pages.install(app)
    link_request_pages.install(app)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """The error page, or a JSON error for the API and for callers that ask for JSON."""
    if request.url.path.startswith("/graphql") or request.headers.get("accept", "").startswith(
        "application/json"
    ):
        return JSONResponse({"errors": [{"message": str(exc.detail)}]}, status_code=exc.status_code)
    page = await Page.open(request)
    try:
        return page.render(
            "error.html", status_code=exc.status_code, status=exc.status_code, detail=str(exc.detail)
        )
    finally:
        await page.close()


async def manifest(request: Request) -> Response:
    page = await Page.open(request)
    try:
        body = request.app.state.templates.get_template("manifest.webmanifest").render(
            language=page.context.language, html_lang=i18n.html_lang(page.context.language)
        )
    finally:
        await page.close()
    return Response(body, media_type="application/manifest+json")


# The worker's shell: what every page needs offline, by the hashed names the pages ask for, with the scripts of
# the pages a resident's phone keeps (resident_pages): tickets.js queues a report made offline.
SHELL_ASSETS = (
    "css/app.css",
    "js/app.js",
    "js/tickets.js",
    "js/sos.js",
    "icons/brand-64.png",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
)
# Scripts asked for by their plain names: what app.js and tickets.js import (relative to themselves).
SHELL_PLAIN = ("js/read-aloud.js", "js/live.js", "js/report-queue.js")


def resident_pages() -> list[str]:
    """What a resident's phone keeps from the first page on, so each opens offline though never opened: the
    report form of every category too, since a report made offline waits on the phone until it can be sent."""
    from laoyou.web.tickets import EMERGENCIES, REPAIR_CATEGORIES

    forms = [f"/repairs/new?category={category}" for category in (*EMERGENCIES, *REPAIR_CATEGORIES)]
    return ["/", "/bills", "/repairs", "/repairs/new", *forms, "/repairs/new?kind=complaint", "/offline"]


def service_worker_source(path: Path, assets: StaticAssets) -> str:
    """sw.js after a first line naming this start's build: its version (a new one whenever a static file or
    the worker changes, so browsers install the new worker and drop the old caches), the shell's URLs and a
    resident's pages."""
    source = path.read_text(encoding="utf-8")
    version = hashlib.sha256((assets.version + source).encode()).hexdigest()[:12]
    shell = [assets.url(name) for name in SHELL_ASSETS] + [f"/static/{name}" for name in SHELL_PLAIN]
    build = json.dumps({"version": version, "shell": shell, "pages": resident_pages()}, separators=(",", ":"))
    return f"const BUILD = {build};\n{source}"


async def service_worker(request: Request) -> Response:
    # Served from the root so its scope covers every page.
    return Response(
        request.app.state.service_worker,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


async def operations(request: Request) -> Response:
    return JSONResponse(request.app.state.persisted.manifest())


async def favicon(request: Request) -> Response:
    icon = request.app.state.settings.pwa_dir / "static" / "icons" / "icon-192.png"
    return FileResponse(icon, media_type="image/png")
