"""The push sender: claims due outbox rows with a guarded update, encrypts (aes128gcm, via pywebpush) in a
small pool of worker processes, signs VAPID once per push-service origin, and delivers over one shared aiohttp
session (a pool of kept-alive connections per push service) with bounded concurrency. 429 and 5xx are retried
with backoff (Retry-After respected); 404 and 410 remove the device.

Processes, not threads: `cryptography` holds the GIL while it encrypts, so two threads were slower than one.
A batch is encrypted in chunks and each chunk is posted as soon as it comes back, so the event loop (HTTP and
the database) and the encryption processes work at the same time.

aiohttp rather than httpx: a push costs a few hundred microseconds of the event loop's time with aiohttp and
about ten times that with httpx, which made HTTP, not encryption, the limit of a fan-out (bench/push.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import secrets
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from ssl import SSLContext

import aiohttp
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.time import as_utc, utcnow
from laoyou.notify import crypto
from laoyou.notify.models import OutboxStatus, PushOutbox, PushSubscription
from laoyou.notify.vapid import VapidSigner

log = logging.getLogger("laoyou.notify")

MAX_ATTEMPTS = 6
BACKOFF_BASE = 5.0  # seconds; doubled per attempt, with jitter
MAX_BACKOFF = 3600.0
# A sender that died mid-batch: its rows are claimed again after this long. What can then go out twice:
# each row is marked sent under its claim's lease as soon as its 201 comes back (the writer commits every
# answer that arrived while it wrote the previous ones), so a crash re-sends only the rows that were on the
# wire or whose 201 was waiting for that one commit, never the batch's earlier ones. A sender that was only
# slow (past STALE_CLAIM) and comes back finds its lease gone and writes nothing over the new claimant's.
STALE_CLAIM = timedelta(minutes=5)
CHUNK = 50  # messages per trip to an encryption process: small enough that posting starts within milliseconds
UNENCRYPTABLE = -1  # recorded as last_status for a device whose keys the encryption refused (not retried)


@dataclass
class Message:
    outbox_id: int
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    payload: bytes
    ttl: int
    urgency: str
    topic: str | None
    attempts: int
    lease: str = ""


@dataclass
class DrainStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    gone: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.gone


def make_http_client(*, ssl: SSLContext | None = None, **kwargs) -> aiohttp.ClientSession:  # noqa: ANN003
    """One session for every push: up to 64 kept-alive connections to each push service, reused. `ssl` is
    for tests, whose stand-in push service has its own certificate; production verifies with the system's."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=200,
            limit_per_host=64,
            keepalive_timeout=60,
            ttl_dns_cache=300,
            ssl=ssl if ssl is not None else True,
        ),
        timeout=aiohttp.ClientTimeout(total=15, connect=10),
        headers={"User-Agent": "laoyou-push/1"},
        **kwargs,
    )


def encrypt(message: Message) -> bytes:
    """RFC 8291 aes128gcm with a fresh ephemeral key and salt, done by pywebpush (http_ece underneath)."""
    return crypto.encrypt_body(message.endpoint, message.p256dh, message.auth, message.payload)


def plain(message: Message) -> crypto.Plain:
    """What an encryption process needs of a message, as a tuple (cheap to pickle)."""
    return message.endpoint, message.p256dh, message.auth, message.payload


def default_processes() -> int:
    """One encryption process per core but one (the event loop keeps a core for HTTP and the database)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def make_pool(processes: int) -> ProcessPoolExecutor:
    """Encryption processes from a fork server that has already imported pywebpush: forking this process
    (threads, an event loop, open sockets) is unsafe, and spawning would import everything again per process."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["laoyou.notify.crypto"])  # no effect if the server already runs
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=processes, mp_context=context)


def retry_delay(attempts: int, retry_after: str | None, now: datetime) -> float:
    backoff = min(MAX_BACKOFF, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * (0.8 + random.random() * 0.4)
    if retry_after:
        try:
            wanted = float(retry_after)
        except ValueError:
            try:
                wanted = (as_utc(parsedate_to_datetime(retry_after)) - now).total_seconds()
            except (TypeError, ValueError):
                wanted = 0.0
        backoff = max(backoff, min(wanted, 24 * 3600.0))
    return backoff


class PushSender:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        signer: VapidSigner,
        http: aiohttp.ClientSession | None = None,
        concurrency: int = 64,
        batch_size: int = 500,
        processes: int | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.signer = signer
        self._http = http
        self.concurrency = concurrency
        self.semaphore = asyncio.Semaphore(concurrency)  # across batches: two may overlap
        self.batch_size = batch_size
        self.processes = processes or default_processes()
        self._pool: ProcessPoolExecutor | None = None  # started on the first batch, then kept
        # Claims and results never touch the database at the same time (HTTP still overlaps both).
        self._db = asyncio.Lock()

    @property
    def http(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop (an aiohttp session belongs to one loop)."""
        if self._http is None:
            self._http = make_http_client()
        return self._http

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = make_pool(self.processes)
        return self._pool

    async def start(self) -> None:
        """Start the encryption processes now and wait until they are up (else the first batch starts them)."""
        loop = asyncio.get_running_loop()
        pool = self.pool
        await asyncio.gather(*(loop.run_in_executor(pool, crypto.ready) for _ in range(self.processes)))

    def _drop_pool(self) -> None:
        """A broken pool (a process was killed) is replaced on the next batch."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._drop_pool()

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Waited for off the loop: the processes are gone when this returns.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        if self._http is not None:
            await self._http.close()

    async def drain(self, *, max_batches: int | None = None) -> DrainStats:
        """Deliver everything that is due now. The next batch is claimed and its encryption queued while this one
        is posted; at most two batches are held at a time."""
        stats = DrainStats()
        batches = 0
        sending: deque[asyncio.Task] = deque()
        try:
            while max_batches is None or batches < max_batches:
                while len(sending) >= 2:
                    await sending.popleft()
                messages = await self.claim()
                if not messages:
                    break
                batches += 1
                chunks = self._encrypt(messages)
                sending.append(asyncio.create_task(self._send_batch(chunks, stats)))
            while sending:
                await sending.popleft()
        finally:
            for task in sending:  # cancelled (the process is stopping): their rows wait for STALE_CLAIM
                task.cancel()
        return stats

    async def claim(self) -> list[Message]:
        """Take up to batch_size due rows; the guarded update means two senders never take the same row."""
        async with self._db:
            return await self._claim()

    async def _claim(self) -> list[Message]:
        now = utcnow()
        lease = secrets.token_hex(8)
        async with self.sessionmaker() as session:
            due = (col(PushOutbox.status) == OutboxStatus.pending.value) & (
                col(PushOutbox.next_attempt_at) <= now
            )
            stale = (col(PushOutbox.status) == OutboxStatus.sending.value) & (
                col(PushOutbox.claimed_at) < now - STALE_CLAIM
            )
            # Read first: an idle sender never takes the write lock.
            candidates = list(
                await session.exec(
                    select(PushOutbox.id, PushOutbox.status)
                    .where(due | stale)
                    .order_by(PushOutbox.id)
                    .limit(self.batch_size)
                )
            )
            if not candidates:
                await session.rollback()
                return []
            ids = [row[0] for row in candidates]
            claimed = list(
                (
                    await session.exec(
                        update(PushOutbox)
                        .where(col(PushOutbox.id).in_(ids), due | stale)
                        .values(
                            status=OutboxStatus.sending.value,
                            claimed_at=now,
                            lease=lease,
                            attempts=PushOutbox.attempts + 1,
                        )
                        .returning(PushOutbox.id)
                    )
                ).scalars()
            )
            if not claimed:
                await session.commit()
                return []
            # Plain columns, not ORM objects: a thousand-row claim costs milliseconds, not half a second.
            rows = (
                await session.execute(
                    select(
                        PushOutbox.id,
                        PushOutbox.payload,
                        PushOutbox.ttl,
                        PushOutbox.urgency,
                        PushOutbox.topic,
                        PushOutbox.attempts,
                        PushSubscription.id,
                        PushSubscription.endpoint,
                        PushSubscription.p256dh,
                        PushSubscription.auth,
                    )
                    .join(PushSubscription, PushSubscription.id == PushOutbox.subscription_id, isouter=True)
                    .where(col(PushOutbox.id).in_(claimed))
                    .order_by(PushOutbox.id)
                )
            ).all()
            orphans = [row[0] for row in rows if row[6] is None]
            if orphans:  # the device was removed after the event was written
                await session.exec(
                    update(PushOutbox)
                    .where(col(PushOutbox.id).in_(orphans))
                    .values(status=OutboxStatus.gone.value)
                )
            await session.commit()
        return [
            Message(
                outbox_id=oid,
                subscription_id=sid,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                payload=payload.encode(),
                ttl=ttl,
                urgency=urgency,
                topic=topic,
                attempts=attempts,
                lease=lease,
            )
            for oid, payload, ttl, urgency, topic, attempts, sid, endpoint, p256dh, auth in rows
            if sid is not None
        ]

    def _encrypt(
        self, messages: list[Message]
    ) -> list[tuple[list[Message], asyncio.Future[list[bytes | None]]]]:
        """Queue the batch's encryption in chunks; each chunk's future is posted as soon as it is done."""
        loop = asyncio.get_running_loop()
        return [
            (messages[i : i + CHUNK], self._submit(loop, [plain(m) for m in messages[i : i + CHUNK]]))
            for i in range(0, len(messages), CHUNK)
        ]

    def _submit(
        self, loop: asyncio.AbstractEventLoop, items: list[crypto.Plain]
    ) -> asyncio.Future[list[bytes | None]]:
        try:
            return loop.run_in_executor(self.pool, crypto.encrypt_many, items)
        except BrokenProcessPool:  # a process died while the pool was idle: start new ones
            self._drop_pool()
        try:
            return loop.run_in_executor(self.pool, crypto.encrypt_many, items)
        except Exception as exc:  # noqa: BLE001 - these messages are retried, like a failed request
            failed = loop.create_future()
            failed.set_exception(exc)
            return failed

    def headers(self, message: Message) -> dict[str, str]:
        headers = {
            "Authorization": self.signer.authorization(message.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(message.ttl),
            "Urgency": message.urgency,
        }
        if message.topic:
            headers["Topic"] = message.topic
        return headers

    async def _post(self, message: Message, body: bytes) -> tuple[Message, int, str | None]:
        async with self.semaphore:
            try:
                async with self.http.post(
                    message.endpoint, data=body, headers=self.headers(message)
                ) as response:
                    await response.read()  # the connection goes back to the pool only once the body is read
                    return message, response.status, response.headers.get("retry-after")
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.info("push to %s failed: %r", message.endpoint[:60], exc)
                return message, 0, None

    async def _send_batch(
        self, chunks: list[tuple[list[Message], asyncio.Future[list[bytes | None]]]], stats: DrainStats
    ) -> None:
        """Post each chunk as its encryption comes back; a writer records answers as they come (group commit),
        not at the batch's end.

        A fixed set of posters takes the messages in turn: a task per message, most of them queued on the
        semaphore, cost the event loop a third more per push."""
        waiting = deque(chunks)  # chunks whose encryption may still run
        ready: deque[tuple[Message, bytes | None]] = deque()
        answered: list[tuple[Message, int, str | None]] = []
        wake = asyncio.Event()
        finished = False

        async def writer() -> None:
            while True:
                await wake.wait()
                wake.clear()
                while answered:
                    taken = answered[:]
                    answered.clear()
                    await self.record(taken, stats)
                if finished:
                    return

        async def next_chunk() -> None:
            messages, encrypting = waiting[0]
            try:
                bodies = await encrypting
            except asyncio.CancelledError:
                raise
            except Exception:  # the pool broke (a process was killed): retried like a network failure
                if waiting and waiting[0][1] is encrypting:
                    waiting.popleft()
                    log.exception("push encryption failed; %s message(s) will be retried", len(messages))
                    self._drop_pool()
                    answered.extend((message, 0, None) for message in messages)
                    wake.set()
                return
            if waiting and waiting[0][1] is encrypting:  # the first poster to wake takes the chunk
                waiting.popleft()
                ready.extend(zip(messages, bodies, strict=True))

        async def poster() -> None:
            while ready or waiting:
                if not ready:
                    await next_chunk()
                    continue
                message, body = ready.popleft()
                if body is None:
                    answered.append((message, UNENCRYPTABLE, None))
                else:
                    answered.append(await self._post(message, body))
                wake.set()

        writing = asyncio.create_task(writer())
        try:
            count = sum(len(messages) for messages, _ in chunks)
            await asyncio.gather(*(poster() for _ in range(min(self.concurrency, count))))
        finally:
            finished = True
            wake.set()
            await writing

    async def record(self, results: list[tuple[Message, int, str | None]], stats: DrainStats) -> None:
        async with self._db:
            await self._record(results, stats)

    async def _record(self, results: list[tuple[Message, int, str | None]], stats: DrainStats) -> None:
        by_lease: dict[str, list[tuple[Message, int, str | None]]] = defaultdict(list)
        for result in results:
            by_lease[result[0].lease].append(result)
        for lease, group in by_lease.items():
            await self._record_lease(lease, group, stats)

    async def _record_lease(
        self, lease: str, results: list[tuple[Message, int, str | None]], stats: DrainStats
    ) -> None:
        now = utcnow()
        # Only rows this claim still holds: a row re-claimed by another sender is theirs to record.
        held = (col(PushOutbox.lease) == lease) & (col(PushOutbox.status) == OutboxStatus.sending.value)
        sent, gone_subs, gone, failed = [], set(), [], []
        retries: list[tuple[int, int, datetime]] = []
        for message, status, retry_after in results:
            stats.statuses[status] += 1
            if 200 <= status < 300:
                sent.append(message)
            elif status in (404, 410):
                gone.append(message.outbox_id)
                gone_subs.add(message.subscription_id)
            elif status == 0 or status == 429 or status >= 500:
                if message.attempts >= MAX_ATTEMPTS:
                    failed.append((message.outbox_id, status))
                else:
                    delay = retry_delay(message.attempts, retry_after, now)
                    retries.append((message.outbox_id, status, now + timedelta(seconds=delay)))
            else:  # 400, 403, 413: retrying the same request cannot help
                failed.append((message.outbox_id, status))
        async with self.sessionmaker() as session:
            if sent:
                await session.exec(
                    update(PushOutbox)
                    .where(col(PushOutbox.id).in_([m.outbox_id for m in sent]), held)
                    .values(status=OutboxStatus.sent.value, sent_at=now, last_status=201)
                )
                await session.exec(
                    update(PushSubscription)
                    .where(col(PushSubscription.id).in_({m.subscription_id for m in sent}))
                    .values(last_success_at=now)
                )
            if gone:
                await session.exec(
                    update(PushOutbox)
                    .where(col(PushOutbox.id).in_(gone), held)
                    .values(status=OutboxStatus.gone.value, last_status=410)
                )
                # Everything still queued for those devices is dropped with them.
                await session.exec(
                    update(PushOutbox)
                    .where(
                        col(PushOutbox.subscription_id).in_(gone_subs),
                        col(PushOutbox.status) == OutboxStatus.pending.value,
                    )
                    .values(status=OutboxStatus.gone.value)
                )
                await session.exec(delete(PushSubscription).where(col(PushSubscription.id).in_(gone_subs)))
            for outbox_id, status in failed:
                await session.exec(
                    update(PushOutbox)
                    .where(PushOutbox.id == outbox_id, held)
                    .values(status=OutboxStatus.failed.value, last_status=status)
                )
            for outbox_id, status, when in retries:
                await session.exec(
                    update(PushOutbox)
                    .where(PushOutbox.id == outbox_id, held)
                    .values(status=OutboxStatus.pending.value, next_attempt_at=when, last_status=status)
                )
            await session.commit()
        stats.sent += len(sent)
        stats.gone += len(gone)
        stats.failed += len(failed)
        stats.retried += len(retries)
