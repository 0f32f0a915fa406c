"""One execution of a chat update serves every subscriber who may see the same answer (support/feed.py Shared),
and only them: what depends on the viewer stays per viewer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from gql import GraphQLRequest
from graphql import parse

from laoyou.graphql.schema import build_schema
from laoyou.support import feed

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN
from .helpers import SET_STATUS
from .servers import AppProcess
from .test_live import client, send

VIEWER_DEPENDENT = """subscription ($id: ID!, $after: Int!) { supportChat(conversationId: $id, afterSeq: $after) {
  conversation { lastSeq viewerIsResident transferTargets { id name } } messages { seq body } } }"""
NEUTRAL = """subscription ($id: ID!, $after: Int!) { supportChat(conversationId: $id, afterSeq: $after) {
  conversation { id lastSeq viewerIsResident resident { name } } messages { seq body sender { name } } } }"""
CONVERSATION = (
    """query ($id: ID!) { supportConversation(id: $id) { viewerIsResident transferTargets { id name } } }"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp("shared-chat")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'shared.sqlite3'}").wait_ready()
    yield app
    app.stop()


async def listen(
    app: AppProcess,
    token: str,
    document: str,
    conversation_id: str,
    after: int,
    marker: str,
    subscribed: asyncio.Event,
) -> dict:
    """Subscribe, say so at the first answer, and return the first update holding the marker message."""
    async with client(app, token) as session:
        async for update in session.subscribe(
            GraphQLRequest(document, variable_values={"id": conversation_id, "after": after})
        ):
            subscribed.set()
            if any(m["body"] == marker for m in update["supportChat"]["messages"]):
                return update["supportChat"]
    raise AssertionError("the subscription ended")


async def watch_together(
    app: AppProcess, watchers: list[tuple[str, str]], conversation_id: str, after: int, sender: str
) -> list[dict]:
    """Everyone subscribes at the same cursor; once all have had their first answer, one message is sent."""
    marker = f"大家好{uuid.uuid4().hex[:6]}"
    subscribed = [asyncio.Event() for _ in watchers]
    tasks = [
        asyncio.create_task(listen(app, token, document, conversation_id, after, marker, event))
        for (token, document), event in zip(watchers, subscribed, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in subscribed)), timeout=30)
    await asyncio.to_thread(send, app, sender, marker, conversation_id)
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


async def resident_asks(app: AppProcess, text: str) -> tuple[str, str, str, int]:
    """The resident's and the agent's tokens, and the conversation her first message opened, with its seq."""
    resident = await asyncio.to_thread(app.login, RESIDENT_XIUSHAN)
    agent = await asyncio.to_thread(app.login, AGENT_NANNING)
    # On duty around the clock: off the demo's 08:00-22:00 the bot would add a note of its own to the chat
    around_the_clock = {"online": True, "start": "00:00", "end": "00:00"}
    await asyncio.to_thread(app.graphql, agent, SET_STATUS, around_the_clock)
    first = await asyncio.to_thread(send, app, resident, text)
    return resident, agent, first["conversation"]["id"], first["chatMessage"]["seq"]


async def test_viewers_on_one_conversation_each_get_their_own_view_of_a_shared_update(server):
    # Given a resident's conversation, watched by her and by the agent on two consoles, with a selection that
    # names fields depending on who asks (viewerIsResident, transferTargets)
    resident, agent, conversation_id, seq = await resident_asks(server, "你好")
    expected = {
        who: (await asyncio.to_thread(server.graphql, token, CONVERSATION, {"id": conversation_id}))[
            "supportConversation"
        ]
        for who, token in (("resident", resident), ("agent", agent))
    }
    assert expected["resident"] != expected["agent"]  # the test means something only if they differ
    # When they all listen from the same cursor and the agent writes
    got = await watch_together(
        server,
        [(resident, VIEWER_DEPENDENT), (agent, VIEWER_DEPENDENT), (agent, VIEWER_DEPENDENT)],
        conversation_id,
        seq,
        agent,
    )
    # Then each gets the message once, and the fields that depend on the viewer are what that viewer may see
    for update, who in zip(got, ("resident", "agent", "agent"), strict=True):
        assert [m["seq"] for m in update["messages"]] == [seq + 1]
        assert update["conversation"]["viewerIsResident"] == expected[who]["viewerIsResident"]
        assert update["conversation"]["transferTargets"] == expected[who]["transferTargets"]


async def test_a_shared_neutral_update_reaches_every_subscriber_with_the_residents_flag_kept_apart(server):
    resident, agent, conversation_id, seq = await resident_asks(server, "在吗")
    watchers = [(resident, NEUTRAL), (resident, NEUTRAL)] + [(agent, NEUTRAL)] * 4
    got = await watch_together(server, watchers, conversation_id, seq, agent)
    assert all([m["seq"] for m in update["messages"]] == [seq + 1] for update in got)
    assert [update["conversation"]["viewerIsResident"] for update in got] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert all(update["messages"][0]["sender"]["name"] == "孙婷" for update in got)


# --- the sharing rules, without a server --------------------------------------------------------------------


SCHEMA = build_schema()


def shape(document: str) -> feed.Shape:
    parsed = parse(document)
    operation = parsed.definitions[0]
    fragments = {d.name.value: d for d in parsed.definitions[1:]}
    return feed.shape_of(SCHEMA._schema, operation, fragments)


def test_a_selection_of_what_everyone_sees_is_neutral_and_its_root_arguments_do_not_key_it():
    found = shape(NEUTRAL)
    assert found.neutral and found.asks_viewer and found.variables == ()


def test_fields_that_depend_on_the_viewer_are_not_neutral_even_inside_fragments():
    assert not shape(VIEWER_DEPENDENT).neutral
    with_fragment = """subscription ($id: ID!) { supportChat(conversationId: $id) { ...C } }
      fragment C on ChatUpdate { conversation { household { id } } }"""
    assert not shape(with_fragment).neutral
    inline = """subscription ($id: ID!, $n: Int!) { supportChat(conversationId: $id) {
      ... on ChatUpdate { conversation { latestMessages(last: $n) { seq } } } } }"""
    found = shape(inline)
    assert found.neutral and found.variables == ("n",)


class FakeContext(SimpleNamespace):
    loaders = None


async def test_one_execution_per_way_of_asking_and_kind_of_viewer():
    conversation = SimpleNamespace(resident_id=1)
    shared = feed.Shared(SimpleNamespace(prime=lambda loaders: None), conversation)  # type: ignore[arg-type]
    parsed = parse(NEUTRAL)
    operation = parsed.definitions[0]
    runs: list[int] = []

    def executor(person_id: int, language: str = "zh") -> SimpleNamespace:
        context = FakeContext(
            actor=SimpleNamespace(person_id=person_id, grants=[]), language=language, _session=None
        )
        return SimpleNamespace(
            operation=operation,
            schema=SCHEMA._schema,
            fragment_definitions={},
            variable_values=SimpleNamespace(coerced={"id": "1", "after": 0}),
            context_value=context,
            is_awaitable=lambda value: False,
        )

    def execute(runner: SimpleNamespace) -> str:
        runs.append(runner.context_value.actor.person_id)
        return f"for {runner.context_value.actor.person_id}"

    answers = await asyncio.gather(*(shared.execute(executor(p), execute) for p in (2, 3, 1, 4, 1)))
    # Staff (2, 3, 4) share one answer, the resident (1) has her own; a viewer in another language has another
    assert answers == ["for 2", "for 2", "for 1", "for 2", "for 1"]
    assert runs == [2, 1]
    assert await shared.execute(executor(2, "en"), execute) == "for 2" and runs == [2, 1, 2]
