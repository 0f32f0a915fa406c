"""For the operator's machines, not for people: /healthz (the process is alive), /readyz (it can serve: the
database answers, live events are listened for, the schema is at the newest migration) and /metrics
(Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from laoyou.billing import service as billing
from laoyou.core import i18n
from laoyou.core.db import DATABASE_UNREACHABLE
from laoyou.core.metrics import Metrics
from laoyou.core.migrate import is_current
from laoyou.graphql.router import LANGUAGE_COOKIE
from laoyou.notify import outbox

log = logging.getLogger("laoyou")

# A check that takes longer than this is a failed check: a load balancer asks every few seconds.
CHECK_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Alive: the process answers. Whether it can serve is /readyz."""
    state = request.app.state
    if not state.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ok", "mode": state.settings.mode.value})


async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: every part answers; 503 naming the parts that do not, so traffic goes elsewhere."""
    state = request.app.state
    checks = {
        "started": state.ready,
        "database": False,
        "pubsub": False,
        "migrations": False,
    }
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            async with state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                checks["database"] = True
                checks["migrations"] = await connection.run_sync(is_current)
    except Exception:  # noqa: BLE001  (down, refusing, or too slow: all of it is "not ready")
        pass
    checks["pubsub"] = await state.pubsub.ready()
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )


FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _may_scrape(request: Request) -> bool:
    token = request.app.state.settings.metrics_token
    if token:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(supplied.encode(), token.encode())
    # Without a token, this machine only, and not through a proxy on it: nginx on the same host passes every
    # visitor's request from 127.0.0.1, but always with a forwarding header naming who asked.
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    client = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


async def metrics(request: Request) -> Response:
    if not _may_scrape(request):
        return Response("not found", status_code=404)
    state = request.app.state
    figures: Metrics = state.metrics
    pool = state.engine.pool
    if hasattr(pool, "checkedout"):
        figures.pool_checked_out.set(pool.checkedout())
        figures.pool_size.set(pool.size() if hasattr(pool, "size") else 0)
    try:
        async with asyncio.timeout(CHECK_SECONDS), state.sessionmaker() as session:
            depth, age = await outbox.backlog(session)
            payments = await billing.payment_counts(session)
        figures.outbox_depth.set(depth)
        figures.outbox_age.set(age)
        for status, count in payments.items():
            figures.payments.labels(status).set(count)
    except Exception:  # noqa: BLE001  (the database's figures are left as they were; readyz tells why)
        pass
    return Response(generate_latest(figures.registry), media_type=CONTENT_TYPE_LATEST)


async def database_unreachable(request: Request, exc: Exception) -> Response:
    """A plain "try again in a few minutes" with the emergency numbers. The page cannot use the site's layout,
    which needs the database to know who asks."""
    log.error("database unreachable on %s: %r", request.url.path, exc)
    language = i18n.valid_language(request.cookies.get(LANGUAGE_COOKIE)) or i18n.negotiate(
        request.headers.get("accept-language")
    )
    retry = i18n.gettext("Please try again in a few minutes.", language)
    headers = {"Retry-After": "30", "Cache-Control": "no-store"}
    if request.url.path.startswith("/graphql") or "application/json" in request.headers.get("accept", ""):
        error = {"message": retry, "extensions": {"code": "UNAVAILABLE"}}
        return JSONResponse({"errors": [error]}, status_code=503, headers=headers)
    body = request.app.state.templates.get_template("unavailable.html").render(
        html_lang=i18n.html_lang(language),
        title=i18n.gettext("Laoyou cannot serve you just now", language),
        retry=retry,
        emergency=i18n.gettext("In an emergency, call 120 for an ambulance or 119 for fire.", language),
        again=i18n.gettext("Try again", language),
        path=request.url.path if request.method == "GET" else "/",
    )
    return HTMLResponse(body, status_code=503, headers=headers)


def install(app: FastAPI) -> None:
    app.state.metrics = Metrics()
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    for kind in DATABASE_UNREACHABLE:
        app.add_exception_handler(kind, database_unreachable)
