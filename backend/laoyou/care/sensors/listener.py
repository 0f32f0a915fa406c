"""The MQTT subscriber: reads every device's topic from the broker and hands each message to the service as its
own unit of work, reconnecting with a growing pause when the broker is away.

It runs with the worker (the embedded one, or `laoyou worker`), once per deployment, beside the periodic jobs;
a second subscriber would still act once, since the service claims each alarm in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from urllib.parse import unquote, urlsplit

import aiomqtt
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.care.sensors import service as sensors
from laoyou.core import events
from laoyou.core.pubsub import PubSub
from laoyou.core.settings import Settings

log = logging.getLogger("laoyou.care.sensors")

MAX_PAUSE = 60.0


def client_for(url: str) -> aiomqtt.Client:
    """mqtt://user:password@host:1883, or mqtts:// for TLS (port 8883 unless given)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("LAOYOU_MQTT_URL must look like mqtt://user:password@host:1883")
    secure = parts.scheme == "mqtts"
    return aiomqtt.Client(
        parts.hostname,
        parts.port or (8883 if secure else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        # Its own name each start: two workers with one name would throw each other off the broker.
        identifier=f"laoyou-{secrets.token_hex(4)}",
        tls_context=ssl.create_default_context() if secure else None,
    )


async def handle(
    sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub, topic: str, payload: bytes
) -> str:
    """One message, one unit of work: committed and announced, or rolled back."""
    async with sessionmaker() as session:
        try:
            outcome = await sensors.do_handle_message(session, topic=topic, payload=payload)
            await events.commit_and_publish(session, pubsub)
        except BaseException:
            await events.rollback(session)
            raise
    log.debug("MQTT: %s from %s", outcome, topic[:120])
    return outcome


async def _receive(
    client: aiomqtt.Client, sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub
) -> None:
    await client.subscribe(f"{sensors.TOPIC_ROOT}/#", qos=1)
    log.info("MQTT: listening to the sensors")
    async for message in client.messages:
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        try:
            await handle(sessionmaker, pubsub, message.topic.value, payload)
        except Exception:
            log.exception(
                "MQTT: a message on %s failed; the next ones are still handled", message.topic.value
            )


async def listen(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub, stop: asyncio.Event
) -> None:
    """Subscribe until stop is set; nothing at all when LAOYOU_MQTT_URL is empty (sensors off)."""
    if not settings.mqtt_url:
        return
    pause = 1.0
    while not stop.is_set():
        try:
            async with client_for(settings.mqtt_url) as client:
                pause = 1.0
                receiving = asyncio.create_task(_receive(client, sessionmaker, pubsub))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stopping, receiving):
                    task.cancel()
                    # A lost broker's error comes out of the receiving task here, and is retried below.
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        except aiomqtt.MqttError as exc:
            log.warning("MQTT: %s; trying again in %.0f s", exc, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            pause = min(pause * 2, MAX_PAUSE)
