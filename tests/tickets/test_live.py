"""The workOrder subscription: the order now and after each step, for those who may see it, over WebSocket.

A fresh app on its own event loop (Starlette's TestClient), as a real server runs, on each backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from laoyou.app import create_app

# (TestClient as that module imports it, quietly)
from ..accounts.test_notifications_live import PROTOCOL, TestClient, connect, demo_token, post, receive
from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, make_database_url, make_settings

FOLLOW = "subscription ($id: ID!) { workOrder(id: $id) { id status timeline { action note } } }"
HOMES = "query { viewer { households { id } } }"
REPORT = """
mutation ($input: ReportProblemInput!) {
  reportProblem(input: $input) { ... on WorkOrderReported { workOrder { id } } ... on Error { message } }
}
"""
ME = "query { viewer { person { id } } }"
ASSIGN = """
mutation ($id: ID!, $to: ID) { assignWorkOrder(id: $id, assigneeId: $to) { __typename ... on Error { message } } }
"""
ACCEPT = "mutation ($id: ID!) { acceptWorkOrder(id: $id) { __typename ... on Error { message } } }"
NOTE = 'mutation ($id: ID!) { addWorkOrderNote(id: $id, note: "师傅下午两点到") { __typename } }'


@pytest.fixture(scope="module")
def live(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp(f"orders-live-{backend}")
    app = create_app(make_settings(tmp, make_database_url(backend, tmp, request)))
    with TestClient(app, client=("10.7.7.8", 4000)) as client:
        yield client


def report_a_leak(live: TestClient, token: str, client_id: str) -> str:
    home = post(live, HOMES, token=token)["viewer"]["households"][0]["id"]
    variables = {
        "input": {"clientId": client_id, "category": "water", "householdId": home, "description": "厨房漏水"}
    }
    return post(live, REPORT, variables, token=token)["reportProblem"]["workOrder"]["id"]


def step(message: dict) -> tuple[str, list[str]]:
    order = message["payload"]["data"]["workOrder"]
    return order["status"], [e["action"] for e in order["timeline"]]


def test_the_reporter_sees_each_step_as_staff_take_it(live):
    # Given a resident's new report, and her phone following it
    resident = demo_token(live, RESIDENT_XIUSHAN)
    order_id = report_a_leak(live, resident, "live-order-1")
    steward = demo_token(live, STEWARD_XIUSHAN)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {resident}"}) == {"type": "connection_ack"}
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": order_id}}}
        )
        # Then the first answer is the order as it is
        assert step(receive(ws)) == ("reported", ["report"])
        # When the steward takes it on himself and accepts it
        me = post(live, ME, token=steward)["viewer"]["person"]["id"]
        assert post(live, ASSIGN, {"id": order_id, "to": me}, token=steward)["assignWorkOrder"] == {
            "__typename": "WorkOrderChanged"
        }
        # Then each new state and step arrives
        assert step(receive(ws)) == ("dispatched", ["report", "assign"])
        assert post(live, ACCEPT, {"id": order_id}, token=steward)["acceptWorkOrder"] == {
            "__typename": "WorkOrderChanged"
        }
        assert step(receive(ws)) == ("accepted", ["report", "assign", "accept"])
        # And a note, which changes no state, arrives too, with its words
        post(live, NOTE, {"id": order_id}, token=steward)
        message = receive(ws)
        assert step(message) == ("accepted", ["report", "assign", "accept", "note"])
        assert message["payload"]["data"]["workOrder"]["timeline"][-1]["note"] == "师傅下午两点到"
        ws.send_json({"id": "1", "type": "complete"})


def test_a_stranger_cannot_follow_someone_elses_order(live):
    # Given an order of one resident, and a resident of another community
    order_id = report_a_leak(live, demo_token(live, RESIDENT_XIUSHAN), "live-order-2")
    stranger = demo_token(live, RESIDENT_JINGJU)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {stranger}"}) == {"type": "connection_ack"}
        # When the stranger subscribes to it
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": order_id}}}
        )
        # Then it is refused with the words of an order that does not exist, and nothing of it
        answer = receive(ws)
        assert answer["payload"] == {"data": None, "errors": [{"message": "Not found."}]}, answer
