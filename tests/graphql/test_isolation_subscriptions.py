"""Isolation over WebSocket: no Subscription field gives a person anything of another community or person.

The strangers of test_isolation.py subscribe to every field of Subscription with arguments that point at the
target's objects, over graphql-transport-ws. A field that names an object (a conversation, an SOS alert, a
call) must refuse them; a field that follows the viewer answers with their own things only. And nothing the
target does may reach a stranger's subscription: the pub/sub channels each stranger's subscriptions listen on
are watched while the target's own people act (each field's `stir`), and none of those events may land there.

SUBSCRIPTIONS holds an entry for every field; a field without one fails the test. The app runs in the test's
event loop (an ASGI WebSocket driven by hand), so it sees the test's transaction and the target's marked text.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import Any, Self

import pytest

from ..accounts.helpers import login_new_person
from ..conftest import GraphQLClient, login_demo
from .sockets import PATIENCE, Socket
from .test_isolation import (  # noqa: F401  (quiet is a fixture)
    ATTACKS,
    Target,
    document_for,
    field_tree,
    leaks,
    ok,
    prepare_target,
    prune,
    quiet,
)

_unique = count(1)


def listeners(app: Any) -> Counter:
    """How many subscribers each pub/sub channel of this process has (the in-process fan-out's own count)."""
    pubsub = app.state.pubsub
    local = getattr(pubsub, "_local", pubsub)  # PostgreSQL's pub/sub fans out through an in-process one
    return Counter({channel: len(queues) for channel, queues in local._queues.items()})  # noqa: SLF001


class Recorder:
    """Listens on channels through the app's pub/sub, as any subscriber does, and keeps what arrives."""

    def __init__(self, app: Any, channels: set[str]) -> None:
        self.app = app
        self.channels = channels
        self.heard: dict[str, list[dict]] = {c: [] for c in channels}
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Self:
        ready = []
        for channel in sorted(self.channels):
            subscribed = asyncio.Event()
            self.tasks.append(asyncio.create_task(self._listen(channel, subscribed)))
            ready.append(subscribed.wait())
        await asyncio.wait_for(asyncio.gather(*ready), PATIENCE)
        return self

    async def _listen(self, channel: str, subscribed: asyncio.Event) -> None:
        async with self.app.state.pubsub.subscribe(channel) as messages:
            subscribed.set()
            async for message in messages:
                self.heard[channel].append(message)

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def take(self) -> dict[str, list[dict]]:
        """What arrived since the last take, by channel."""
        found = {c: list(m) for c, m in self.heard.items() if m}
        for messages in self.heard.values():
            messages.clear()
        return found


# --- what the target's own people do, and the registry ---------------------------------------------------------


@dataclass
class People:
    """The target's own people, logged in."""

    resident: GraphQLClient
    steward: GraphQLClient
    gql: GraphQLClient
    app: Any


Stir = Callable[[Target, People], Awaitable[Any]]


async def someone_asks_to_follow_the_resident(t: Target, people: People) -> None:
    relative = await login_new_person(people.gql, people.app, f"1391235{next(_unique):04d}")
    await ok(
        relative,
        'mutation ($p: String!) { requestFamilyLink(phone: $p, relation: "亲戚") { __typename } }',
        {"p": t.resident_phone},
        "requestFamilyLink",
    )


async def the_resident_writes_to_customer_service(t: Target, people: People) -> None:
    await ok(
        people.resident,
        """mutation ($c: String!, $id: ID!) { sendChatMessage(clientId: $c, body: "又漏水了",
        conversationId: $id) { ... on ChatMessageSent { conversation { id } } ... on Error { code message } } }""",
        {"c": f"iso-live-{next(_unique)}", "id": t.conversation_id},
        "sendChatMessage",
    )


async def the_steward_answers_the_sos(t: Target, people: People) -> None:
    await ok(
        people.steward,
        "mutation ($id: ID!) { respondSos(id: $id) { __typename ... on Error { code } } }",
        {"id": t.sos_id},
        "respondSos",
    )


async def the_resident_calls_the_steward(t: Target, people: People) -> None:
    await ok(
        people.resident,
        """mutation ($h: ID!) { startCall(video: false, householdId: $h, toSteward: true) {
        ... on CallUpdated { call { id } } ... on Error { code message } } }""",
        {"h": t.household_id},
        "startCall",
    )


async def the_resident_signals_in_the_call(t: Target, people: People) -> None:
    await ok(
        people.resident,
        """mutation ($id: ID!) { sendCallSignal(callId: $id, kind: "offer", payload: "{}") {
        __typename ... on Error { code message } } }""",
        {"id": t.call_id},
        "sendCallSignal",
    )


async def the_steward_notes_the_work_order(t: Target, people: People) -> None:
    await ok(
        people.steward,
        """mutation ($id: ID!) { addWorkOrderNote(id: $id, note: "师傅下午到") {
        __typename ... on Error { code message } } }""",
        {"id": t.work_order_id},
        "addWorkOrderNote",
    )


async def the_steward_publishes_a_briefing(t: Target, people: People) -> None:
    await ok(
        people.steward,
        """mutation ($c: ID!) { createBriefing(mode: NOW, input: {communityIds: [$c], title: "今日简报"}) {
        __typename ... on Error { code message } } }""",
        {"c": t.community_id},
        "createBriefing",
    )


@dataclass(frozen=True)
class Subscribed:
    """How to aim one Subscription field at the target, and what the target does that the field reports."""

    stir: Stir
    variables: Callable[[Target], dict] = lambda t: {}
    # The field names one of the target's objects: every stranger must be refused.
    names_target: bool = False


SUBSCRIPTIONS: dict[str, Subscribed] = {
    "unreadNotifications": Subscribed(someone_asks_to_follow_the_resident),
    "supportChat": Subscribed(
        the_resident_writes_to_customer_service,
        lambda t: {"conversationId": t.conversation_id, "afterSeq": 0},
        names_target=True,
    ),
    "supportQueue": Subscribed(the_resident_writes_to_customer_service),
    "sosAlert": Subscribed(the_steward_answers_the_sos, lambda t: {"id": t.sos_id}, names_target=True),
    "sosAlerts": Subscribed(the_steward_answers_the_sos),
    "ringingCalls": Subscribed(the_resident_calls_the_steward),
    "workOrder": Subscribed(
        the_steward_notes_the_work_order, lambda t: {"id": t.work_order_id}, names_target=True
    ),
    "todaysBriefings": Subscribed(the_steward_publishes_a_briefing),
    "callSignals": Subscribed(
        the_resident_signals_in_the_call, lambda t: {"callId": t.call_id, "afterId": 0}, names_target=True
    ),
}


def subscription_fields(app: Any) -> list[str]:
    return sorted(app.state.schema._schema.get_type("Subscription").fields)  # noqa: SLF001


def test_every_subscription_field_has_an_entry(app):
    fields = subscription_fields(app)
    assert not [f for f in fields if f not in SUBSCRIPTIONS], "add these fields to SUBSCRIPTIONS"
    assert not [f for f in SUBSCRIPTIONS if f not in fields], "these SUBSCRIPTIONS entries name no field"


# --- the test -------------------------------------------------------------------------------------------------


async def subscribe_all(app: Any, socket: Socket, target: Target) -> dict[str, list[dict]]:
    """Subscribe to every field with the target's arguments and keep each subscription open; each field's
    first messages. A selection that meets a refused corner (a staff-only field, say) is sent again without
    it, as the query test does, so that what is left is live and checked too."""
    schema = app.state.schema._schema  # noqa: SLF001
    answers: dict[str, list[dict]] = {}
    ended: set[str] = set()
    for name in subscription_fields(app):
        variables = SUBSCRIPTIONS[name].variables(target)
        tree = field_tree(schema, "Subscription", name)
        answers[name] = []
        for attempt in range(12):
            key = f"{name}-{attempt}"
            await socket.send(
                {
                    "id": key,
                    "type": "subscribe",
                    "payload": {
                        "query": document_for(schema, "Subscription", name, variables, tree),
                        "variables": variables,
                    },
                }
            )
            while True:
                message = await socket.receive()
                assert message is not None, f"{name}: the socket closed ({socket.close_code})"
                if message.get("id") == key:
                    break
                # Only the end of a subscription given up before may come in between
                assert message.get("id") in ended and message["type"] == "complete", message
            answers[name].append(message)
            errors = message["payload"].get("errors") if message["type"] == "next" else None
            if not errors:
                break  # its first value (it stays open), or a refusal ("error")
            ended.add(key)
            await socket.send({"id": key, "type": "complete"})
            pruned = [prune(tree, e["path"]) for e in errors if e.get("path")]  # every corner, not the first
            if not any(pruned):
                break
    return answers


def refused(messages: list[dict]) -> bool:
    """Every try ended with errors at the field itself (or an 'error' message) and without data."""
    last = messages[-1]
    if last["type"] == "error":
        return True
    payload = last["payload"] if last["type"] == "next" else {}
    return not payload.get("data") and any(len(e.get("path") or []) <= 1 for e in payload.get("errors") or [])


async def attack_live(app: Any, gql: GraphQLClient, attacker_phone: str | None, target: Target) -> list[str]:
    """Subscribe as the target's own people and as the attacker, let the target act; list what went wrong."""
    problems: list[str] = []
    people = People(
        await login_demo(gql, target.spec.resident), await login_demo(gql, target.spec.steward), gql, app
    )
    sockets: list[Socket] = []
    try:
        # Given the target's own people subscribed to everything of theirs
        before = listeners(app)
        own_answers = {}
        for who, client in (("resident", people.resident), ("steward", people.steward)):
            socket = Socket(app)
            sockets.append(socket)
            assert await socket.open(client.token) == {"type": "connection_ack"}
            own_answers[who] = await subscribe_all(app, socket, target)
        theirs = {c for c, n in (listeners(app) - before).items() if n}
        # (which shows the target's marked text to them: a leak would be seen)
        assert leaks(json.dumps(own_answers, ensure_ascii=False), target, set()), own_answers
        # When the attacker subscribes to the same fields with the same arguments
        before = listeners(app)
        socket = Socket(app)
        sockets.append(socket)
        attacker = await login_demo(gql, attacker_phone) if attacker_phone else gql.as_token(None)
        hello = await socket.open(attacker.token)
        if attacker_phone is None:
            # Then nobody is connected without a session (4403: Forbidden)
            if hello is not None or socket.close_code != 4403:
                problems.append(
                    f"anonymous: connection_init answered {hello}, close code {socket.close_code}"
                )
            return problems
        assert hello == {"type": "connection_ack"}, hello
        answers = await subscribe_all(app, socket, target)
        mine = {c for c, n in (listeners(app) - before).items() if n}
        # Then fields naming the target's objects refuse, and no answer holds anything of the target
        for name, messages in answers.items():
            if SUBSCRIPTIONS[name].names_target and not refused(messages):
                problems.append(f"{name}: not refused: {messages}")
            if found := leaks(json.dumps(messages, ensure_ascii=False), target, set()):
                problems.append(f"{name}: leaks {found} in {json.dumps(messages, ensure_ascii=False)[:600]}")
        if shared := sorted(mine & theirs):
            problems.append(f"the attacker listens on the target's channels {shared}")
    finally:
        # The subscriptions end before the target acts: the test's one database connection cannot serve their
        # fetches and the target's requests at once. Their channels are known, and are listened on instead.
        for socket in sockets:
            await socket.close()
    # And when the target's people act, nothing is published where the attacker's subscriptions listened
    async with Recorder(app, mine | theirs) as recorder:
        for name in subscription_fields(app):
            await SUBSCRIPTIONS[name].stir(target, people)
            await asyncio.sleep(0)  # the recorder's listeners take what was published
            heard = recorder.take()
            if reached := sorted(c for c in heard if c in mine):
                problems.append(f"{name}: what the target did reached the attacker's channels {reached}")
            # (and the stir did publish where the target's own subscriptions listened)
            assert any(c in theirs for c in heard), f"{name}: its stir published nothing: {heard}"
    return problems


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("attacker_phone, target_key", ATTACKS)
async def test_no_subscription_gives_anything_of_another_community(app, gql, db, attacker_phone, target_key):
    target = await prepare_target(target_key, gql, app, db)
    problems = await attack_live(app, gql, attacker_phone, target)
    assert not problems, "\n".join(problems)


# --- the test can fail -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet")
async def test_an_sos_alert_followed_by_a_stranger_is_caught(app, gql, db, monkeypatch):
    # Given a scoping hole: any SOS alert is handed to anyone who asks
    target = await prepare_target("A", gql, app, db)
    from laoyou.support import service as support

    async def unscoped(session, *, actor, alert_id):  # noqa: ANN001, ANN202
        return await session.get(support.SosAlert, alert_id)

    monkeypatch.setattr(support, "access_sos", unscoped)
    # Then the isolation check reports it answered, and listens where the target's people listen
    problems = await attack_live(app, gql, "13800000002", target)
    assert any(p.startswith("sosAlert: not refused") for p in problems), problems
    assert any("listens on the target's channels ['support:sos:" in p for p in problems), problems
    assert any(p.startswith("sosAlert: what the target did reached") for p in problems), problems


@pytest.mark.usefixtures("quiet")
async def test_a_queue_heard_by_every_agent_is_caught(app, gql, db, monkeypatch):
    # Given a scoping hole: every staff member listens to every district
    target = await prepare_target("B", gql, app, db)
    from laoyou.support import service as support

    monkeypatch.setattr(support, "district_channels", lambda actor: [support.ALL_DISTRICTS_CHANNEL])
    # Then what the target's resident writes is seen to reach the stranger's channels
    problems = await attack_live(app, gql, "13800000031", target)
    assert any(p.startswith("supportQueue: what the target did reached") for p in problems), problems
