"""Open311 GeoReport v2 (open data): the services, the requests and filing one with an API key, as JSON or
XML. Not a page group: Open311 clients (a city's 12345 platform) call these, so each endpoint is its own
request's boundary, like the payment gateways' notify endpoint."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from laoyou.core.db import session_scope
from laoyou.governance.open311 import service as open311
from laoyou.governance.open311.format import ERRORS, MEDIA_TYPES, REQUESTS, SERVICES, render

PREFIX = "/open311/v2"


def _answer(items: list[dict], names: tuple[str, str], fmt: str, status_code: int = 200) -> Response:
    return Response(render(items, names, fmt), status_code=status_code, media_type=MEDIA_TYPES[fmt])


def _error(exc: open311.Open311Error, fmt: str) -> Response:
    return _answer([{"code": exc.status, "description": exc.description}], ERRORS, fmt, exc.status)


def _format(fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        raise open311.Open311Error(404, "the format is json or xml")
    return fmt


async def services(fmt: str, request: Request) -> Response:
    try:
        return _answer(open311.services(), SERVICES, _format(fmt))
    except open311.Open311Error as exc:
        return _error(exc, "json")


async def requests(fmt: str, request: Request) -> Response:
    answer_as = fmt if fmt in MEDIA_TYPES else "json"
    try:
        _format(fmt)
        params = dict(request.query_params)
        async with request.app.state.sessionmaker() as session:
            key = await open311.key_for(session, params.get("api_key"))
            found = await open311.list_requests(session, key=key, query=open311.parse_query(params))
        return _answer(found, REQUESTS, fmt)
    except open311.Open311Error as exc:
        return _error(exc, answer_as)


async def one_request(request_id: str, fmt: str, request: Request) -> Response:
    answer_as = fmt if fmt in MEDIA_TYPES else "json"
    try:
        _format(fmt)
        async with request.app.state.sessionmaker() as session:
            key = await open311.key_for(session, request.query_params.get("api_key"))
            found = await open311.get_request(session, key=key, request_id=request_id)
        return _answer(found, REQUESTS, fmt)
    except open311.Open311Error as exc:
        return _error(exc, answer_as)


async def file_request(fmt: str, request: Request) -> Response:
    answer_as = fmt if fmt in MEDIA_TYPES else "json"
    try:
        _format(fmt)
        form = {name: value for name, value in (await request.form()).items() if isinstance(value, str)}
        # This endpoint is its request's boundary (no page, no GraphQL): one unit of work per report.
        async with session_scope(request.app.state.sessionmaker, request.app.state.pubsub) as session:
            key = await open311.key_for(session, form.get("api_key") or request.query_params.get("api_key"))
            filed = await open311.do_file_request(session, key=key, form=form)
        return _answer(filed, REQUESTS, fmt, status_code=201)
    except open311.Open311Error as exc:
        return _error(exc, answer_as)


def install(app: FastAPI) -> None:
    app.add_api_route(f"{PREFIX}/services.{{fmt}}", services, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/requests.{{fmt}}", requests, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/requests.{{fmt}}", file_request, methods=["POST"], include_in_schema=False)
    app.add_api_route(
        f"{PREFIX}/requests/{{request_id}}.{{fmt}}", one_request, methods=["GET"], include_in_schema=False
    )
