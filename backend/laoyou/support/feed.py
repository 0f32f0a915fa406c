"""Live conversations, fetched once per event per process and fanned out to every subscriber from memory.

A conversation with twenty subscribers (the resident's phone, the agents' consoles, a family member's tab)
used to cost each of them two queries per message. Now one listener per conversation and process hears the
channel, and the first subscriber to wake after an event fetches the conversation row and the messages after
the newest one held; the others read the same rows. A subscriber whose cursor is older than what is held (a
reconnect after a long absence) reads the database itself. Access is checked once, when a subscription starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

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
        self.first_seq = 1  # the oldest seq held (or that would be held), so what is held covers [first_seq, last]
        self.people: dict[int, Person] = {}
        self.media: dict[int, MediaFile] = {}
        self.lock = asyncio.Lock()
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
        rows = list(await session.exec(
            select(Message).where(Message.conversation_id == self.conversation_id, Message.seq > newest)
            .order_by(Message.seq).limit(KEEP)
        ))
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
        self.messages = (self.messages + rows)[-KEEP:]
        if self.messages:
            self.first_seq = self.messages[0].seq
        if len(rows) < KEEP:  # otherwise more are waiting: the next read fetches again
            self.fetched = generation

    async def read(self, sessionmaker: Callable[[], AsyncSession], after_seq: int) -> tuple[Conversation | None, list[Message]]:
        """The conversation and up to PAGE messages after the cursor, fetched at most once per event."""
        if self.fetched != self.generation:
            async with self.lock:
                if self.fetched != self.generation:  # another subscriber may have fetched while this one waited
                    async with sessionmaker() as session:
                        await self._refresh(session)
        conversation = self.conversation
        if conversation is None:
            return None, []
        if after_seq + 1 >= self.first_seq:
            return conversation, [m for m in self.messages if m.seq > after_seq][:PAGE]
        async with sessionmaker() as session:  # older than what is held: this subscriber reads for itself
            return conversation, await support.list_messages(session, conversation=conversation, after_seq=after_seq,
                                                             first=PAGE)

    def prime(self, loaders: Any) -> None:
        """Give a subscriber's fresh loaders the people and files held, so resolving an update costs no query."""
        loaders.person_by_id.prime_many(self.people)
        loaders.media_file_by_id.prime_many(self.media)


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
