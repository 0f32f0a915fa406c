"""Live conversations, fetched once per event per process and fanned out to every subscriber from memory.

A conversation with twenty subscribers (the resident's phone, the agents' consoles, a family member's tab)
used to cost each of them two queries per message. Now one listener per conversation and process hears the
channel, and the first subscriber to wake after an event fetches the conversation row and the messages after
the newest one held; the others read the same rows. A subscriber whose cursor is older than what is held (a
reconnect after a long absence) reads the database itself. Access is checked once, when a subscription starts.

Subscribers at the same cursor also share the answer: the update they are handed is one object, and its
`Shared` executes the subscription's selection set once per way of asking (the same parsed operation and the
variables inside the selection) and kind of viewer, with a context of its own, and hands every other
subscriber that result. Whether a selection looks only at what every viewer of the conversation sees is
decided from the fields it names (`VIEWER_NEUTRAL`); any other field keys the answer by the person asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person
from laoyou.media.models import MediaFile
from laoyou.support import service as support
from laoyou.support.models import Conversation, Message

log = logging.getLogger("laoyou.support")

KEEP = 200  # messages held per conversation; enough for every live subscriber and a short reconnect
PAGE = 100  # at most this many messages in one update (the rest follow at once)


class ConversationFeed:
    def __init__(self, hub: FeedHub, conversation_id: int) -> None:
        self.hub = hub
        self.conversation_id = conversation_id
        self.subscribers = 0
        self.generation = 0  # bumped by every event on the conversation's channel
        self.fetched = -1  # the generation the held rows were fetched at
        self.conversation: Conversation | None = None
        self.messages: list[Message] = []
        self.first_seq = (
            1  # the oldest seq held (or that would be held), so what is held covers [first_seq, last]
        )
        self.people: dict[int, Person] = {}
        self.media: dict[int, MediaFile] = {}
        self.lock = asyncio.Lock()
        self.updates: dict[
            int, Any
        ] = {}  # cursor -> the update handed to every subscriber at it, for these rows
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    # --- the one listener -----------------------------------------------------------------------------

    def bump(self) -> None:
        self.generation += 1
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def _listen(self) -> None:
        channel = support.conversation_channel(self.conversation_id)
        while True:
            try:
                async with self.hub.pubsub.subscribe(channel) as events:
                    self.ready.set()
                    async for _event in events:
                        self.bump()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (a lost pub/sub connection: listen again, make everyone re-read)
                log.exception("conversation feed %s lost its channel", self.conversation_id)
                self.bump()
                await asyncio.sleep(1)

    async def wait_newer(self, generation: int) -> None:
        changed = self.changed
        if self.generation == generation:
            await changed.wait()

    # --- reading ------------------------------------------------------------------------------------------

    async def _refresh(self, session: AsyncSession) -> None:
        generation = self.generation
        conversation = await session.get(Conversation, self.conversation_id)
        if conversation is None:
            return
        newest = self.messages[-1].seq if self.messages else max(0, conversation.last_seq - KEEP)
        if not self.messages:
            self.first_seq = newest + 1
        rows = list(
            await session.exec(
                select(Message)
                .where(Message.conversation_id == self.conversation_id, Message.seq > newest)
                .order_by(Message.seq)
                .limit(KEEP)
            )
        )
        people = {m.sender_id for m in rows if m.sender_id} | {conversation.resident_id}
        if conversation.assignee_id:
            people.add(conversation.assignee_id)
        missing = people - self.people.keys()
        if missing:
            for person in await session.exec(select(Person).where(col(Person.id).in_(missing))):
                self.people[person.id] = person
        media_ids = {m.media_id for m in rows if m.media_id} - self.media.keys()
        if media_ids:
            for media in await session.exec(select(MediaFile).where(col(MediaFile.id).in_(media_ids))):
                self.media[media.id] = media
        self.conversation = conversation
        self.updates = {}
        self.messages = (self.messages + rows)[-KEEP:]
        if self.messages:
            self.first_seq = self.messages[0].seq
        if len(rows) < KEEP:  # otherwise more are waiting: the next read fetches again
            self.fetched = generation

    async def read(
        self,
        sessionmaker: Callable[[], AsyncSession],
        after_seq: int,
        make: Callable[[Conversation, list[Message], Shared | None], Any],
    ) -> tuple[Any, int] | None:
        """The update for a subscriber at this cursor (the conversation and up to PAGE messages after it) and the
        number of messages in it, fetched at most once per event; subscribers at one cursor get the same update."""
        if self.fetched != self.generation:
            async with self.lock:
                if (
                    self.fetched != self.generation
                ):  # another subscriber may have fetched while this one waited
                    async with sessionmaker() as session:
                        await self._refresh(session)
        conversation = self.conversation
        if conversation is None:
            return None
        if after_seq + 1 >= self.first_seq:
            held = self.updates.get(after_seq)
            if held is None:
                rows = [m for m in self.messages if m.seq > after_seq][:PAGE]
                held = self.updates[after_seq] = (
                    make(conversation, rows, Shared(self, conversation)),
                    len(rows),
                )
            return held
        async with sessionmaker() as session:  # older than what is held: this subscriber reads for itself
            rows = await support.list_messages(
                session, conversation=conversation, after_seq=after_seq, first=PAGE
            )
        return make(conversation, rows, None), len(rows)

    def prime(self, loaders: Any) -> None:
        """Give a subscriber's fresh loaders the people and files held, so resolving an update costs no query."""
        loaders.person_by_id.prime_many(self.people)
        loaders.media_file_by_id.prime_many(self.media)


# --- one answer for many subscribers ---------------------------------------------------------------------

# The fields whose value is the same for everyone allowed to watch the conversation (GraphQL names). Only
# viewerIsResident depends on the viewer, and only on whether they are the resident who asked.
VIEWER_NEUTRAL: dict[str, frozenset[str]] = {
    "ChatUpdate": frozenset({"conversation", "messages"}),
    "SupportConversation": frozenset(
        {
            "id",
            "status",
            "urgent",
            "lastSeq",
            "residentDeliveredSeq",
            "residentReadSeq",
            "staffDeliveredSeq",
            "staffReadSeq",
            "createdAt",
            "lastMessageAt",
            "waitingSince",
            "waitingMinutes",
            "firstResponseAt",
            "closedAt",
            "rating",
            "ratingComment",
            "workOrderId",
            "viewerIsResident",
            "resident",
            "assignee",
            "messages",
            "latestMessages",
        }
    ),
    "SupportMessage": frozenset(
        {
            "id",
            "conversationId",
            "seq",
            "kind",
            "body",
            "fromStaff",
            "clientId",
            "createdAt",
            "sender",
            "senderLabel",  # in the reader's language, which is part of the key
            "media",
            "actions",
        }
    ),
    "ChatAction": frozenset({"kind", "label", "phone", "href"}),  # the label's language is part of the key
    "SupportPerson": frozenset({"id", "name", "maskedPhone"}),
    "MediaFile": frozenset({"id", "kind", "contentType", "url", "thumbUrl", "width", "height"}),
}
ASKS_VIEWER = ("SupportConversation", "viewerIsResident")


@dataclass(frozen=True)
class Shape:
    """What a subscription's selection set looks at, as far as sharing its answer goes."""

    neutral: bool  # only VIEWER_NEUTRAL fields
    asks_viewer: bool  # names viewerIsResident
    variables: tuple[
        str, ...
    ]  # the variables used below the subscription field (its own arguments are spent)


def _variables_in(node: Any, found: set[str]) -> None:
    if isinstance(node, VariableNode):
        found.add(node.name.value)
    elif isinstance(node, ListValueNode):
        for value in node.values:
            _variables_in(value, found)
    elif isinstance(node, ObjectValueNode):
        for item in node.fields:
            _variables_in(item.value, found)


def _directive_variables(node: Any, found: set[str]) -> None:
    for directive in node.directives or ():
        for argument in directive.arguments or ():
            _variables_in(argument.value, found)


def shape_of(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: dict[str, Any]) -> Shape:
    fields: set[tuple[str, str]] = set()
    variables: set[str] = set()

    def walk(selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections or ():
            _directive_variables(selection, variables)
            if isinstance(selection, FieldNode):
                name = selection.name.value
                for argument in selection.arguments or ():
                    _variables_in(argument.value, variables)
                if name.startswith("__"):
                    continue
                fields.add((parent.name, name))
                field = getattr(parent, "fields", {}).get(name)
                if field is not None:
                    walk(selection.selection_set, get_named_type(field.type), seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                walk(
                    selection.selection_set,
                    schema.get_type(condition.name.value) if condition else parent,
                    seen,
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    walk(
                        fragment.selection_set,
                        schema.get_type(fragment.type_condition.name.value),
                        seen | {name},
                    )

    root = schema.subscription_type
    _directive_variables(operation, variables)
    for selection in operation.selection_set.selections or ():
        _directive_variables(
            selection, variables
        )  # the subscription field itself: its arguments are not read again
        if isinstance(selection, FieldNode) and root is not None and selection.name.value in root.fields:
            walk(selection.selection_set, get_named_type(root.fields[selection.name.value].type), frozenset())
        else:  # not the plain shape a chat subscription has: never shared across viewers
            fields.add(("?", "?"))
    neutral = all(name in VIEWER_NEUTRAL.get(parent, ()) for parent, name in fields)
    return Shape(neutral=neutral, asks_viewer=ASKS_VIEWER in fields, variables=tuple(sorted(variables)))


_shapes: dict[
    int, tuple[Node, Shape]
] = {}  # id(operation) -> (operation, its shape); parsed documents are cached


def _shape(executor: Any) -> Shape:
    operation = executor.operation
    held = _shapes.get(id(operation))
    if held is not None and held[0] is operation:
        return held[1]
    shape = shape_of(executor.schema, operation, executor.fragment_definitions)
    if len(_shapes) >= 256:
        _shapes.clear()
    _shapes[id(operation)] = (operation, shape)
    return shape


def _frozen(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value if isinstance(value, Hashable) else repr(value)


class Shared:
    """One event's answers for the subscribers at one cursor: executed once per way of asking and kind of viewer."""

    def __init__(self, feed: ConversationFeed, conversation: Conversation) -> None:
        self.feed = feed
        self.conversation = conversation
        self.results: dict[Hashable, tuple[Node, asyncio.Task]] = {}

    def viewer_key(self, shape: Shape, context: Any) -> Hashable:
        actor = context.actor
        if shape.neutral:
            return context.language, shape.asks_viewer and self.conversation.resident_id == actor.person_id
        # Fields that may depend on who asks (their household, their work orders): shared only with themselves.
        return context.language, actor.person_id, tuple(sorted(grant.id for grant in actor.grants))

    def execute(self, executor: Any, execute: Callable[[Any], Any]) -> Any:
        shape = _shape(executor)
        coerced = getattr(executor.variable_values, "coerced", executor.variable_values) or {}
        key = (
            id(executor.operation),
            tuple((name, _frozen(coerced.get(name))) for name in shape.variables),
            self.viewer_key(shape, executor.context_value),
        )
        held = self.results.get(key)
        if held is None or held[0] is not executor.operation:
            held = self.results[key] = (
                executor.operation,
                asyncio.ensure_future(self._run(executor, execute)),
            )
        # Shielded: a subscriber that goes away must not cancel the answer the others are waiting for.
        return asyncio.shield(held[1])

    async def _run(self, executor: Any, execute: Callable[[Any], Any]) -> Any:
        """Execute with a context of its own (the first asker's person and language, a short session, loaders
        primed with the people and files held), so that no subscriber's leaving ends it half way."""
        context = copy.copy(executor.context_value)
        for private in ("loaders", "_subscription_lock", "_support_scope"):
            context.__dict__.pop(private, None)
        context._session = None
        runner = copy.copy(executor)
        runner.context_value = context
        try:
            self.feed.prime(context.loaders)
            result = execute(runner)
            if runner.is_awaitable(result):
                result = await result
            return result
        finally:
            if context._session is not None:
                await context._session.close()


class FeedHub:
    """One per pub/sub (per app): the conversations someone in this process is watching."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub
        self.feeds: dict[int, ConversationFeed] = {}

    async def join(self, conversation_id: int) -> ConversationFeed:
        feed = self.feeds.get(conversation_id)
        if feed is None:
            feed = self.feeds[conversation_id] = ConversationFeed(self, conversation_id)
            feed.task = asyncio.create_task(feed._listen())
        feed.subscribers += 1
        await feed.ready.wait()
        return feed

    async def leave(self, feed: ConversationFeed) -> None:
        feed.subscribers -= 1
        if feed.subscribers == 0 and self.feeds.get(feed.conversation_id) is feed:
            del self.feeds[feed.conversation_id]
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task


_hubs: weakref.WeakKeyDictionary[Any, FeedHub] = weakref.WeakKeyDictionary()


def hub_for(pubsub: Any) -> FeedHub:
    hub = _hubs.get(pubsub)
    if hub is None:
        hub = _hubs[pubsub] = FeedHub(pubsub)
    return hub
