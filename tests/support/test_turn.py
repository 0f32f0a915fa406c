"""Calls' TURN logins: with coturn's shared secret each caller gets a login of their own that expires; without
it the static servers of LAOYOU_ICE_SERVERS are given as they are; a stranger gets none."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from laoyou.core.time import utcnow
from laoyou.support.turn import turn_login

from ..conftest import (
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    graphql_client,
    login_demo,
    make_database_url,
    make_settings,
    started,
)

ICE = "{ iceServers { urls username credential } }"
STATIC = '[{"urls": "stun:stun.example.cn:3478"}, {"urls": ["turn:turn.example.cn:3478"], "username": "u", "credential": "p"}]'


def test_the_login_is_coturns_hmac_of_expiry_and_person():
    # A vector computed outside Python:
    #   printf '%s' "1700000000:42" | openssl dgst -sha1 -hmac "north-wind" -binary | base64
    login = turn_login("north-wind", 42, now=datetime.fromtimestamp(1699996400, UTC), seconds=3600)
    assert login.username == "1700000000:42"
    assert login.credential == "6hwnrZiUDHkxY5CYq4XHhx2DHas="
    expected = base64.b64encode(hmac.new(b"north-wind", b"1700000000:42", hashlib.sha1).digest()).decode()
    assert login.credential == expected


async def test_each_caller_gets_a_login_of_their_own_that_expires_and_a_stranger_none(
    backend, tmp_path, request
):
    settings = make_settings(
        tmp_path,
        make_database_url(backend, tmp_path, request),
        ice_servers=STATIC,
        turn_secret="coturn-shared-secret",
        turn_urls="turn:turn.example.cn:3478, turns:turn.example.cn:5349",
        turn_credential_seconds=3600,
    )
    async with started(settings) as app, graphql_client(app) as gql:
        # Given two residents logged in
        xiushan, jingju = await login_demo(gql, RESIDENT_XIUSHAN), await login_demo(gql, RESIDENT_JINGJU)
        # When each asks for the servers of a call
        mine = (await xiushan(ICE))["data"]["iceServers"]
        theirs = (await jingju(ICE))["data"]["iceServers"]
        # Then the static servers come first, as configured
        assert mine[:2] == [
            {"urls": ["stun:stun.example.cn:3478"], "username": None, "credential": None},
            {"urls": ["turn:turn.example.cn:3478"], "username": "u", "credential": "p"},
        ]
        # and then the shared-secret TURN server with a login of their own, valid for the configured hour
        turn = mine[2]
        assert turn["urls"] == ["turn:turn.example.cn:3478", "turns:turn.example.cn:5349"]
        expires, person = turn["username"].split(":")
        assert 3590 <= int(expires) - utcnow().timestamp() <= 3600
        digest = hmac.new(b"coturn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(digest).decode()
        assert theirs[2]["username"].split(":")[1] != person
        # A stranger gets no server and no login
        stranger = await gql(ICE, expect_errors=True)
        assert stranger["data"] is None
        assert "coturn" not in str(stranger) and "turn.example.cn" not in str(stranger)
