"""Live chat through an independent GraphQL client (gql over websockets, graphql-transport-ws) against
real app processes: catch-up after a reconnect, and two processes sharing one PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN
from .servers import AppProcess

SEND = """mutation ($c: String!, $b: String!, $id: ID) { sendChatMessage(clientId: $c, body: $b, conversationId: $id) {
  ... on ChatMessageSent { chatMessage { seq } conversation { id } } } }"""
CHAT = gql("""subscription ($id: ID!, $after: Int!) { supportChat(conversationId: $id, afterSeq: $after) {
  conversation { lastSeq } messages { seq body } } }""")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp("live-chat")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'live.sqlite3'}").wait_ready()
    yield app
    app.stop()


def send(app: AppProcess, token: str, body: str, conversation_id: str | None = None) -> dict:
    return app.graphql(token, SEND, {"c": uuid.uuid4().hex, "b": body, "id": conversation_id})[
        "sendChatMessage"
    ]


def client(app: AppProcess, token: str) -> Client:
    transport = WebsocketsTransport(
        url=app.ws_url,
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport, fetch_schema_from_transport=False)


async def collect(
    app: AppProcess, token: str, conversation_id: str, after: int, until_seq: int, during: list | None = None
) -> list[int]:
    """Subscribe after a cursor and gather message seqs until one reaches until_seq."""
    seen: list[int] = []
    async with client(app, token) as session:

        async def read() -> None:
            async for update in session.subscribe(
                GraphQLRequest(CHAT, variable_values={"id": conversation_id, "after": after})
            ):
                seen.extend(m["seq"] for m in update["supportChat"]["messages"])
                if during:
                    await asyncio.to_thread(during.pop(0))
                if seen and seen[-1] >= until_seq:
                    return

        await asyncio.wait_for(read(), timeout=30)
    return seen


async def test_subscribe_disconnect_miss_reconnect_catch_up_exactly_once_in_order(server):
    # Given a resident's conversation and the agent answering it
    resident = await asyncio.to_thread(server.login, RESIDENT_XIUSHAN)
    agent = await asyncio.to_thread(server.login, AGENT_NANNING)
    first = await asyncio.to_thread(send, server, resident, "你好")
    conversation_id = first["conversation"]["id"]

    def agent_sends(count: int, start: int):  # noqa: ANN202
        return lambda: [send(server, agent, f"回复{start + i}", conversation_id) for i in range(count)]

    # When the resident's app subscribes from the start and the agent sends three replies while it listens
    seen = await collect(server, resident, conversation_id, 0, 4, during=[agent_sends(3, 1)])
    assert seen == [1, 2, 3, 4]
    # And, disconnected, the resident misses four more
    await asyncio.to_thread(agent_sends(4, 4))
    # Then reconnecting after the last seq it showed brings exactly the missed ones, then the live ones, in order
    caught = await collect(server, resident, conversation_id, seen[-1], 10, during=[agent_sends(2, 8)])
    assert caught == [5, 6, 7, 8, 9, 10]
    assert seen + caught == list(range(1, 11))


async def test_a_stranger_cannot_subscribe_to_someone_elses_conversation(server):
    resident = await asyncio.to_thread(server.login, RESIDENT_XIUSHAN)
    conversation_id = (await asyncio.to_thread(send, server, resident, "私事"))["conversation"]["id"]
    stranger = await asyncio.to_thread(server.login, "13800000002")
    with pytest.raises(TransportQueryError) as refused:
        await collect(server, stranger, conversation_id, 0, 1)
    # The subscription is refused with "not found" (nothing says the conversation exists) and no data
    assert [e["message"] for e in refused.value.errors] == ["Not found."]
    assert refused.value.data is None


@pytest.mark.postgres
async def test_two_processes_on_one_postgresql_deliver_each_others_messages(pg_cluster, tmp_path):
    # Given two app processes on one PostgreSQL database, with PostgreSQL LISTEN/NOTIFY pub/sub
    url = pg_cluster.create_database(f"laoyou_two_{uuid.uuid4().hex[:8]}")
    one = AppProcess(tmp_path, url, LAOYOU_PUBSUB="postgres").wait_ready()
    two = AppProcess(tmp_path, url, LAOYOU_PUBSUB="postgres").wait_ready()
    try:
        resident = await asyncio.to_thread(one.login, RESIDENT_XIUSHAN)
        agent = await asyncio.to_thread(two.login, AGENT_NANNING)
        conversation_id = (await asyncio.to_thread(send, one, resident, "第一句"))["conversation"]["id"]
        # When the agent listens on process two and the resident writes through process one
        seen = await collect(
            two,
            agent,
            conversation_id,
            1,
            3,
            during=[
                lambda: send(one, resident, "第二句", conversation_id),
                lambda: send(one, resident, "第三句", conversation_id),
            ],
        )
        # Then process two delivers them, once each, in order
        assert seen == [2, 3]
    finally:
        one.stop()
        two.stop()


QUEUE_LIVE = gql("subscription { supportQueue { id status resident { name } } }")
SOS_LIVE = gql("subscription ($id: ID!) { sosAlert(id: $id) { id status responder { name } } }")
RAISE_SOS = """mutation ($h: ID!, $c: String!) { raiseSos(householdId: $h, clientId: $c) { ... on SosRaised { alert { id } } } }"""
RESPOND_SOS = """mutation ($id: ID!) { respondSos(id: $id) { __typename } }"""
HOUSEHOLDS = "query { viewer { ownHouseholdIds } }"


async def updates(
    app: AppProcess, token: str, document, variables: dict, count: int, during: list
) -> list[dict]:  # noqa: ANN001
    """Subscribe, run one step of `during` after each update, and return the first `count` updates."""
    seen: list[dict] = []
    async with client(app, token) as session:

        async def read() -> None:
            async for update in session.subscribe(GraphQLRequest(document, variable_values=variables)):
                seen.append(update)
                if len(seen) >= count:
                    return
                if during:
                    await asyncio.to_thread(during.pop(0))

        await asyncio.wait_for(read(), timeout=30)
    return seen


async def test_the_admin_sees_every_districts_queue_change_live(server):
    # Given the operator's admin watching the queue (no district of their own)
    admin = await asyncio.to_thread(server.login, "13800000099")
    resident = await asyncio.to_thread(server.login, RESIDENT_XIUSHAN)
    marker = f"管理员看得到{uuid.uuid4().hex[:6]}"
    # When a Nanning resident writes while the admin listens
    seen = await updates(server, admin, QUEUE_LIVE, {}, 2, during=[lambda: send(server, resident, marker)])
    # Then the admin's queue is sent again (before, only their own person channel was heard: this timed out),
    # holding the resident's conversation
    assert len(seen) == 2
    assert any(c["resident"]["name"] == "王秀英" for c in seen[1]["supportQueue"])


async def test_the_sos_page_hears_who_is_coming_without_reloading(server):
    # Given a resident's SOS, alerting the on-duty steward
    resident = await asyncio.to_thread(server.login, RESIDENT_XIUSHAN)
    agent = await asyncio.to_thread(server.login, AGENT_NANNING)
    household = (await asyncio.to_thread(server.graphql, resident, HOUSEHOLDS))["viewer"]["ownHouseholdIds"][
        0
    ]
    alert = await asyncio.to_thread(
        server.graphql, resident, RAISE_SOS, {"h": household, "c": uuid.uuid4().hex}
    )
    alert_id = alert["raiseSos"]["alert"]["id"]
    # When her status page listens and the agent answers "I am going"
    seen = await updates(
        server,
        resident,
        SOS_LIVE,
        {"id": alert_id},
        2,
        during=[lambda: server.graphql(agent, RESPOND_SOS, {"id": alert_id})],
    )
    # Then the first update is the alert as it was and the next names the agent who is coming
    assert seen[0]["sosAlert"]["status"] == "open" and seen[0]["sosAlert"]["responder"]["name"] == "张建国"
    assert (
        seen[1]["sosAlert"]["status"] == "acknowledged" and seen[1]["sosAlert"]["responder"]["name"] == "孙婷"
    )
    # And a stranger cannot listen to it
    stranger = await asyncio.to_thread(server.login, "13800000002")
    with pytest.raises(TransportQueryError) as refused:
        await updates(server, stranger, SOS_LIVE, {"id": alert_id}, 1, during=[])
    assert [e["message"] for e in refused.value.errors] == ["Not found."]
    assert refused.value.data is None


SOS_ALERTS_LIVE = gql("subscription { sosAlerts { id status resident { name } } }")


async def test_the_stewards_home_hears_an_sos_raised_and_taken_without_reloading(server):
    # Given the steward of 秀山花园 whose home listens for SOS alerts
    steward = await asyncio.to_thread(server.login, "13800000011")
    resident = await asyncio.to_thread(server.login, RESIDENT_XIUSHAN)
    household = (await asyncio.to_thread(server.graphql, resident, HOUSEHOLDS))["viewer"]["ownHouseholdIds"][
        0
    ]
    raised: list[str] = []

    def press_sos() -> None:
        alert = server.graphql(resident, RAISE_SOS, {"h": household, "c": uuid.uuid4().hex})
        raised.append(alert["raiseSos"]["alert"]["id"])

    # When 王秀英 presses SOS, and then he answers "I am going"
    seen = await updates(
        server,
        steward,
        SOS_ALERTS_LIVE,
        {},
        3,
        during=[press_sos, lambda: server.graphql(steward, RESPOND_SOS, {"id": raised[0]})],
    )
    # Then her alert arrives open, then taken, with no reload
    states = [{a["id"]: a["status"] for a in update["sosAlerts"]} for update in seen]
    assert raised[0] not in states[0]
    assert states[1][raised[0]] == "open" and states[2][raised[0]] == "acknowledged"
    assert {a["resident"]["name"] for a in seen[1]["sosAlerts"] if a["id"] == raised[0]} == {"王秀英"}
    # And a resident cannot listen to the alerts
    with pytest.raises(TransportQueryError) as refused:
        await updates(server, resident, SOS_ALERTS_LIVE, {}, 1, during=[])
    assert [e["message"] for e in refused.value.errors] == ["Not found."]
