"""The todaysBriefings subscription: an open home page hears of a briefing published for its community only.

A fresh app on its own event loop (Starlette's TestClient), as a real server runs, on each backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from laoyou.app import create_app

# (TestClient as that module imports it, quietly)
from ..accounts.test_notifications_live import PROTOCOL, TestClient, connect, demo_token, post, receive
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG, make_database_url, make_settings

FOLLOW = "subscription { todaysBriefings { id title } }"
COMMUNITIES = "query { briefingCommunities { id } }"
PUBLISH = """
mutation ($c: ID!, $title: String!) {
  createBriefing(mode: NOW, input: {communityIds: [$c], title: $title, body: "今天修好了两处"}) {
    ... on BriefingSaved { briefing { id } } ... on Error { message }
  }
}
"""
WITHDRAW = "mutation ($id: ID!) { withdrawBriefing(id: $id) { __typename } }"


@pytest.fixture(scope="module")
def live(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp(f"briefings-live-{backend}")
    app = create_app(make_settings(tmp, make_database_url(backend, tmp, request)))
    with TestClient(app, client=("10.7.7.9", 4000)) as client:
        yield client


def publish(live: TestClient, token: str, title: str) -> str:
    community = post(live, COMMUNITIES, token=token)["briefingCommunities"][0]["id"]
    return post(live, PUBLISH, {"c": community, "title": title}, token=token)["createBriefing"]["briefing"][
        "id"
    ]


def titles(message: dict) -> list[str]:
    return [b["title"] for b in message["payload"]["data"]["todaysBriefings"]]


def test_an_open_home_hears_of_its_own_communitys_briefings_only(live):
    # Given a resident's home page following today's briefings
    resident = demo_token(live, RESIDENT_XIUSHAN)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {resident}"}) == {"type": "connection_ack"}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW}})
        before = titles(receive(ws))
        # When her steward publishes one
        mine = publish(live, demo_token(live, STEWARD_XIUSHAN), "秀山花园今日简报")
        # Then it comes first
        assert titles(receive(ws)) == ["秀山花园今日简报", *before]
        # When another community's steward publishes one, and then hers is withdrawn
        publish(live, demo_token(live, STEWARD_YUEYANG), "岳阳花苑今日简报")
        post(live, WITHDRAW, {"id": mine}, token=demo_token(live, STEWARD_XIUSHAN))
        # Then the next thing she hears is the withdrawal: nothing of the other community came between
        assert titles(receive(ws)) == before
        ws.send_json({"id": "1", "type": "complete"})


def test_staff_hear_nothing_and_get_no_homes_briefings(live):
    # Given a steward (who follows no home) subscribed
    steward = demo_token(live, STEWARD_XIUSHAN)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {steward}"}) == {"type": "connection_ack"}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW}})
        assert titles(receive(ws)) == []
        # When a briefing is published for his community
        publish(live, steward, "给居民的简报")
        # Then nothing is pushed to him: a ping is answered before anything else arrives
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}
