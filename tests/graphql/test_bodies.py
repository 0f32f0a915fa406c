"""Malformed and oversized request bodies on /graphql are the client's mistake: 400 or 413 with a JSON error in the
caller's language, never a 500, and an oversized body is not read past the limit."""

from __future__ import annotations

import pytest

from laoyou.core import i18n
from laoyou.web.edge import GRAPHQL_BODY_LIMIT

JSON = {"content-type": "application/json", "accept-language": "zh-CN"}
VIEWER = b'{"query": "{ viewer { isStaff } }"}'


def error_message(response) -> str:  # noqa: ANN001
    payload = response.json()
    assert list(payload) == ["errors"] and len(payload["errors"]) == 1, payload
    return payload["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "msgid"),
    [
        (b'\xff\xfe{"query": "{ viewer { isStaff } }"}', "The request body is not valid JSON (UTF-8)."),
        (b'{"query": "{ viewer { isStaff } }", "x": "\xc3"}', "The request body is not valid JSON (UTF-8)."),
        (b'{"query": ', "The request body is not valid JSON (UTF-8)."),
        (b'"{ viewer { isStaff } }"', "The request body must be a JSON object holding one operation."),
        (b"42", "The request body must be a JSON object holding one operation."),
        (b"null", "The request body must be a JSON object holding one operation."),
        (b"true", "The request body must be a JSON object holding one operation."),
        (b'{"query": 3}', "The operation's query must be text, its variables and extensions objects."),
        (
            b'{"query": "{ viewer { isStaff } }", "variables": [1]}',
            "The operation's query must be text, its variables and extensions objects.",
        ),
        (b"{}", "The request holds no operation."),
    ],
)
async def test_a_malformed_body_is_a_400_in_the_callers_language(client, body, msgid):
    response = await client.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert error_message(response) == i18n.gettext(msgid, "zh_CN") != msgid


@pytest.mark.parametrize(
    "body", [b"[]", b"[" + VIEWER + b"]", b"[" + VIEWER + b", " + VIEWER + b"]", b"[1, 2]"]
)
async def test_a_batch_is_refused_as_one_request_one_operation(client, body):
    # Batches are not taken: one request carries one operation (the per-request limits count operations so)
    response = await client.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400
    assert error_message(response) == i18n.gettext(
        "Send one operation per request: batches are not accepted.", "zh_CN"
    )


async def test_a_form_post_to_graphql_is_told_to_send_json(client):
    response = await client.post(
        "/graphql", data={"query": "{ viewer { isStaff } }"}, headers={"accept-language": "en"}
    )
    assert response.status_code == 400
    assert error_message(response) == "Send the operation as JSON (Content-Type: application/json)."


async def test_the_same_operation_well_formed_still_answers(client):
    response = await client.post("/graphql", content=VIEWER, headers=JSON)
    assert response.status_code == 200 and response.json() == {"data": {"viewer": {"isStaff": False}}}


def padded(size: int) -> bytes:
    """A valid operation of exactly `size` bytes (the padding is a long comment-free string variable)."""
    head, tail = b'{"query": "query ($p: String) { viewer { isStaff } }", "variables": {"p": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_body_of_one_mebibyte_is_read(client):
    response = await client.post("/graphql", content=padded(GRAPHQL_BODY_LIMIT), headers=JSON)
    assert response.status_code == 200, response.text[:300]


async def test_a_declared_body_over_one_mebibyte_is_refused_before_it_is_read(client):
    # Given a body whose Content-Length says 1 MiB and one byte, sent in chunks we count
    pulled = []

    async def body():
        for chunk in (
            padded(GRAPHQL_BODY_LIMIT + 1)[i : i + 65536] for i in range(0, GRAPHQL_BODY_LIMIT + 1, 65536)
        ):
            pulled.append(len(chunk))
            yield chunk

    headers = {**JSON, "content-length": str(GRAPHQL_BODY_LIMIT + 1), "accept-language": "en"}
    response = await client.post("/graphql", content=body(), headers=headers)
    # Then it is refused with 413 in the caller's words, and none of it was read
    assert response.status_code == 413
    assert error_message(response) == "What you sent is too large (at most 1 MB). Please send less."
    assert pulled == []


async def test_an_endless_chunked_body_is_refused_once_past_the_limit(client):
    # Given a body with no Content-Length that would go on for 64 MiB
    pulled = []

    async def endless():
        for _ in range(1024):
            pulled.append(65536)
            yield b" " * 65536

    response = await client.post("/graphql", content=endless(), headers=JSON)
    # Then it is refused, having read no more than the limit and the chunk that crossed it
    assert response.status_code == 413
    assert error_message(response) == i18n.gettext(
        "What you sent is too large (at most %(size)s). Please send less.", "zh_CN", size="1 MB"
    )
    assert sum(pulled) <= GRAPHQL_BODY_LIMIT + 65536
