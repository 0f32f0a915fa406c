"""Logs: JSON lines in production, human lines elsewhere; every line of a request carries its request id,
who asked (hashed) and the GraphQL operation, and one line per request says how long it took."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from laoyou.core import logs

from ..conftest import RESIDENT_XIUSHAN, login_demo

SECRET = "a-private-secret-key-of-more-than-32-characters"


@contextmanager
def captured(*, json_lines: bool) -> Iterator[io.StringIO]:
    """What the process's handler would write, for the loggers a request writes to."""
    stream = io.StringIO()
    handler = logs.log_handler(json=json_lines, stream=stream)
    loggers = [logging.getLogger("laoyou.requests"), logging.getLogger("laoyou.test")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


async def handler_app(scope, receive, send) -> None:  # noqa: ANN001
    """An app that learns who asks and what they ran, and logs a line of its own, as the real one does."""
    logs.note_person(7)
    logs.note(operation="MyBills")
    logging.getLogger("laoyou.test").warning("the bill of %s", "王秀英")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def client(secret: str = SECRET) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=logs.RequestLog(handler_app, secret_key=secret))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_production_writes_json_lines_with_request_id_hashed_person_operation_and_duration():
    with captured(json_lines=True) as stream:
        async with client() as http:
            response = await http.get("/bills/3?x=1", headers={"X-Request-ID": "proxy-0123456789abcdef"})
    # The request id it came with is kept and echoed
    assert response.headers["x-request-id"] == "proxy-0123456789abcdef"
    own, access = (json.loads(line) for line in stream.getvalue().splitlines())
    # Every line of the request says which request, who (hashed) and what it ran
    for line in (own, access):
        assert line["request_id"] == "proxy-0123456789abcdef"
        assert line["operation"] == "MyBills"
        assert len(line["person"]) == 16 and line["person"] != "7"
        assert line["time"].endswith("+00:00")
    assert own == {**own, "level": "WARNING", "logger": "laoyou.test", "message": "the bill of 王秀英"}
    # and the request's own line, its method, path (no query), status and duration
    assert access["logger"] == "laoyou.requests"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/bills/3", 200)
    assert access["duration_ms"] >= 0
    # The same person hashes the same under one secret, and differently under another
    with captured(json_lines=True) as again:
        async with client() as http:
            await http.get("/")
        async with client("another-secret-key-of-more-than-32-characters") as http:
            await http.get("/")
    first, _, other, _ = (json.loads(line) for line in again.getvalue().splitlines())
    assert first["person"] == own["person"] != other["person"]


async def test_development_writes_human_lines_and_a_request_id_that_is_not_sane_is_replaced():
    with captured(json_lines=False) as stream:
        async with client() as http:
            response = await http.get("/home", headers={"X-Request-ID": 'a"b\tc <script>'})
    request_id = response.headers["x-request-id"]
    assert logs.SANE_REQUEST_ID.fullmatch(request_id) and "script" not in request_id
    own, access = stream.getvalue().splitlines()
    assert f"WARNING laoyou.test [{request_id}]: the bill of 王秀英" in own
    assert f"INFO laoyou.requests [{request_id}]: GET /home 200 " in access and access.endswith(" ms")


async def test_health_checks_are_not_logged_unless_they_fail():
    with captured(json_lines=True) as stream:
        async with client() as http:
            await http.get("/healthz")
    assert [json.loads(line)["logger"] for line in stream.getvalue().splitlines()] == ["laoyou.test"]


async def test_the_app_echoes_request_ids_and_logs_who_ran_which_operation(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    with captured(json_lines=True) as stream:
        response = await resident.http.post(
            "/graphql",
            json={"query": "query Whoami { viewer { isStaff } }"},
            headers={"Authorization": f"Bearer {resident.token}", "X-Request-ID": "phone-42-abcdef01"},
        )
    assert response.json() == {"data": {"viewer": {"isStaff": False}}}
    assert response.headers["x-request-id"] == "phone-42-abcdef01"
    (access,) = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (access["path"], access["operation"], access["request_id"]) == (
        "/graphql",
        "Whoami",
        "phone-42-abcdef01",
    )
    assert access["person"] != "-"
    # A request without one gets a new id
    response = await resident.http.get("/healthz")
    assert logs.SANE_REQUEST_ID.fullmatch(response.headers["x-request-id"])
