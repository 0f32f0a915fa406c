"""The async engine and sessions. SQLite (WAL) in the data directory by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet
from sqlmodel import Session as SQLModelSession
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.pubsub import PubSub
from laoyou.core.settings import Settings


def _run_statement(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> tuple:
    """On aiosqlite's thread: a statement from cursor to its last row, in one go."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        return description, cursor.fetchall() if description else [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A statement costs one trip to aiosqlite's thread instead of four.

    SQLAlchemy's adapter opens an aiosqlite cursor, executes, fetches and closes it, each a separate hand-off
    to the connection's thread and back through the event loop. Under load every hand-off waits for the
    loop's current turn (a chat message fanned out to its subscribers), so a mutation of eight statements
    spent most of its time queued between them. Here the thread runs all four steps and hands back the rows
    with the description, row count and last row id.
    """

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor to open
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = {}
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass  # rows are fetched all at once

    async def _async_soft_close(self) -> None:
        pass  # nothing stays open on the thread

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass  # sqlite3 ignores them too

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own queue to its thread (the private _execute is what its public methods use).
            result = await self._connection._execute(
                _run_statement, self._connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, True)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def _dbapi(url: str) -> Any:
    import aiosqlite

    return _OneTripDBAPI(aiosqlite, sqlite3) if "+aiosqlite" in url else None


BUSY_SECONDS = 30  # how long a SQLite writer waits for another's transaction before "database is locked"


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": BUSY_SECONDS}, module=_dbapi(url))

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            # WAL lets readers work while one writer commits; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
            cursor.close()

        # The driver begins a transaction only at the first write, so a request that reads and then writes
        # takes the write lock late and waits instead of failing with "database is locked" as a deferred
        # BEGIN at the first read would. The app uses no SAVEPOINTs; the tests that do opt into explicit
        # BEGIN with use_explicit_begin.
        WriteGate.for_database(engine.url.database).guard(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class WriteGate:
    """SQLite's one writer at a time, queued in the process instead of in SQLite's busy handler.

    A connection that finds the write lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms between
    tries) however soon the lock is free again; under a steady stream of short write transactions the waiters
    sleep far longer than the lock is held, the queue grows, and chat messages arrived seconds late. So each
    connection takes this gate's asyncio lock (one per database and event loop) just before its first write
    statement, exactly where SQLite would take its own, and gives it back when the connection returns to the
    pool, which is after its commit or rollback: the next writer starts the moment the previous one ends, in
    arrival order. The gate is held only while SQLite's lock is, so it adds no wait that SQLite would not
    impose; writers outside it (another process, a synchronous connection) still meet the busy handler.
    """

    _gates: weakref.WeakValueDictionary[str, WriteGate] = weakref.WeakValueDictionary()
    _by_engine: weakref.WeakKeyDictionary[Any, WriteGate] = weakref.WeakKeyDictionary()
    _HELD = "laoyou_write_gate"  # in the pooled connection's info: (lock, loop) while it holds the gate

    def __init__(self, timeout: float = BUSY_SECONDS) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.holders = 0  # connections holding the gate now (0 or 1 per event loop): what tests assert on

    @classmethod
    def of(cls, engine: AsyncEngine) -> WriteGate | None:
        """The gate an engine's writers queue at (None on PostgreSQL, which queues writers itself)."""
        return cls._by_engine.get(engine.sync_engine)

    @classmethod
    def for_database(cls, database: str | None) -> WriteGate:
        """One gate per database file, so the app's engine and the embedded worker's queue together."""
        if not database or database == ":memory:":  # each in-memory database is its own
            return cls()
        key = str(Path(database).resolve())
        gate = cls._gates.get(key)
        if gate is None:
            gate = cls._gates[key] = cls()
        return gate

    def guard(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine
        self._by_engine[sync_engine] = self
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        for name in ("checkin", "invalidate", "close", "detach"):
            event.listen(
                sync_engine, name, self._release_record
            )  # the engine's listeners keep the gate alive

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        if self._HELD in conn.info or not is_write(statement, context):
            return
        if not in_greenlet():  # a synchronous caller cannot wait here; SQLite's busy handler is its queue
            return
        lock = self.lock()
        try:
            await_only(asyncio.wait_for(lock.acquire(), self.timeout))
        except TimeoutError:
            raise conn.dialect.loaded_dbapi.OperationalError(
                f"database is locked (another writer held it for {self.timeout:g} s)"
            ) from None
        conn.info[self._HELD] = (lock, asyncio.get_running_loop())
        self.holders += 1

    def _release_record(self, _dbapi_connection: Any, record: Any, *_args: Any) -> None:
        held = record.info.pop(self._HELD, None) if record is not None else None
        if held is None:
            return
        lock, loop = held
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._release(lock)
        elif loop.is_closed():  # its lock went with its loop
            self.holders -= 1
        else:  # a connection collected on another thread: release on the lock's own loop
            loop.call_soon_threadsafe(self._release, lock)

    def _release(self, lock: asyncio.Lock) -> None:
        self.holders -= 1
        lock.release()


_WRITES = ("insert", "update", "delete", "replace")


def is_write(statement: str, context: Any) -> bool:
    """Whether SQLite takes its write lock for this statement (BEGIN, SAVEPOINT and reads do not)."""
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return statement.lstrip(" \n\t(").lower().startswith(_WRITES)


def use_explicit_begin(connection: Any) -> None:
    """On one SQLite connection, emit BEGIN ourselves so SAVEPOINT and ROLLBACK mean what they say
    (the driver otherwise starts transactions late and commits around SAVEPOINTs)."""
    connection.connection.driver_connection.isolation_level = None
    event.listen(connection, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))


def use_driver_begin(connection: Any) -> None:
    """Undo use_explicit_begin before the connection goes back to the pool."""
    connection.connection.driver_connection.isolation_level = ""


class SerialAsyncSession(AsyncSession):
    """A session that runs one database call at a time.

    GraphQL resolves sibling fields (and DataLoader batches) concurrently, and they share the request's
    session; an AsyncSession must never be used by two coroutines at once, so its calls queue here.
    """

    _lock: asyncio.Lock | None = None

    def _serial(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        # Shielded: when GraphQL cancels a resolver (a sibling non-null field failed), the statement it had
        # started still finishes; cancelling it half way would leave the connection's transaction invalid.
        async def run() -> Any:
            async with self._serial():
                return await method(*args, **kwargs)

        return await asyncio.shield(run())

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().execute, *args, **kwargs)

    async def exec(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self._call(super().exec, *args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().scalar, *args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().get, *args, **kwargs)

    async def get_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().get_one, *args, **kwargs)

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        return await self._call(super().refresh, *args, **kwargs)

    async def merge(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().merge, *args, **kwargs)

    async def delete(self, instance: object) -> None:
        return await self._call(super().delete, instance)

    async def flush(self, objects: Any = None) -> None:
        return await self._call(super().flush, objects)

    async def commit(self) -> None:
        return await self._call(super().commit)

    async def rollback(self) -> None:
        return await self._call(super().rollback)

    async def close(self) -> None:
        # Closing gives the connection and the write gate back: a request cancelled meanwhile (its client gone)
        # still waits for it, so that once the request's task has ended nothing of it is left behind.
        closing = asyncio.ensure_future(self._call(super().close))
        cancelled = False
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        return closing.result()

    async def connection(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(super().connection, *args, **kwargs)


_WROTE = "laoyou_wrote"


class TrackedSession(SQLModelSession):
    """A session that remembers whether its transaction wrote anything, so that a request which only read
    can end without a commit (one round trip fewer on every page load)."""


@event.listens_for(TrackedSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not state.is_select:  # DML, and text() whose intent we cannot tell: count it as a write
        state.session.info[_WROTE] = True


@event.listens_for(TrackedSession, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(TrackedSession, "after_transaction_end")
def _forget_writes(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def has_writes(session: AsyncSession) -> bool:
    """Whether the session's transaction wrote, or holds changes that a commit would flush."""
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


# The database cannot be reached (down, restarting, refusing, too slow to answer): what a person is told is
# "try again in a few minutes", never the driver's words (graphql/schema.py, web/ops.py).
DATABASE_UNREACHABLE = (OperationalError, InterfaceError, DisconnectionError, ConnectionError, TimeoutError)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # A closed session refuses further work instead of quietly starting a new transaction. A request's work can
    # outlive it (a DataLoader batch, a statement shielded from GraphQL's cancelling of a failed field's
    # siblings); had it reopened the request's session after close, nothing would ever end that transaction,
    # and the write gate it took stayed held until a restart.
    return async_sessionmaker(
        engine,
        class_=SerialAsyncSession,
        sync_session_class=TrackedSession,
        expire_on_commit=False,
        close_resets_only=False,
    )


@asynccontextmanager
async def session_scope(
    maker: async_sessionmaker[AsyncSession], pubsub: PubSub | None = None
) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs, commands and the endpoints that are their own boundary (a gateway's
    notification, an Open311 client's report): commit on success, then publish the events the services
    queued (given a pubsub); roll back on error, and the events go with it."""
    async with maker() as session:
        try:
            yield session
            if pubsub is None:
                await session.commit()
            else:
                await events.commit_and_publish(session, pubsub)
        except BaseException:
            await events.rollback(session)
            raise


def insert_ignoring(session: AsyncSession, table: Any, unique: list[str]):  # noqa: ANN202
    """INSERT … ON CONFLICT (unique) DO NOTHING, on PostgreSQL and SQLite."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=unique)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=unique)
