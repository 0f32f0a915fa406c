"""The voice providers' call reports: Alibaba Cloud's and Tencent Cloud's servers post whether she answered and
the key she pressed to a URL holding LAOYOU_VOICE_CALLBACK_TOKEN, and each call is handed to the reach service.
Neither provider signs these posts, so the token in the path is what tells them from anyone else's."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from laoyou.core.db import session_scope
from laoyou.notify.reach.channels import CallReport
from laoyou.notify.reach.voice import ReportError, parse_aliyun_report, parse_tencent_callback

log = logging.getLogger("laoyou.voice")

MAX_BODY = 1024 * 1024  # a batch of reports is a few kilobytes; anything near this is not a provider's
# What each provider takes as "received": anything else and it posts the reports again.
ALIYUN_RECEIVED = {"code": 0, "msg": "接收成功"}
TENCENT_RECEIVED = {"result": 0, "errmsg": "OK"}


def _known_token(request: Request, token: str) -> bool:
    expected = request.app.state.settings.voice_callback_token
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


async def _receive(
    request: Request, token: str, parse: Callable[[bytes], list[CallReport]], received: dict
) -> Response:
    if not _known_token(request, token):
        return PlainTextResponse("Not Found", status_code=404)
    body = await request.body()
    if len(body) > MAX_BODY:
        return PlainTextResponse("the report is too large", status_code=413)
    try:
        reports = parse(body)
    except ReportError as exc:
        return PlainTextResponse(f"not a call report: {exc}", status_code=400)
    # Looked up when reports arrive, not at import, so that a test can stand in for the reach service.
    from laoyou.notify.reach import service as reach_service

    # This endpoint is its request's boundary: one unit of work for the batch, so a failure leaves it all for
    # the provider's next try (recording a report twice changes nothing).
    async with session_scope(request.app.state.sessionmaker, request.app.state.pubsub) as session:
        for report in reports:
            if not await reach_service.do_voice_report(session, report):
                log.info("a voice report of an unknown call %s", report.call_id)
    return JSONResponse(received)


async def aliyun_reports(token: str, request: Request) -> Response:
    return await _receive(request, token, parse_aliyun_report, ALIYUN_RECEIVED)


async def tencent_reports(token: str, request: Request) -> Response:
    return await _receive(request, token, parse_tencent_callback, TENCENT_RECEIVED)


def install(app: FastAPI) -> None:
    app.add_api_route(
        "/reach/voice/aliyun/{token}", aliyun_reports, methods=["POST"], include_in_schema=False
    )
    app.add_api_route(
        "/reach/voice/tencent/{token}", tencent_reports, methods=["POST"], include_in_schema=False
    )
