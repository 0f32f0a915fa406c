"""The async engine and sessions. SQLite (WAL) in the data directory by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import Session as SQLModelSession
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.settings import Settings


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            # WAL lets readers work while one writer commits; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        # The driver begins a transaction only at the first write, so a request that reads and then writes
        # takes the write lock late and waits (busy_timeout) instead of failing with "database is locked"
        # as a deferred BEGIN at the first read would. The app uses no SAVEPOINTs; the tests that do opt
        # into explicit BEGIN with use_explicit_begin.
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


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
        return await self._call(super().close)

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


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=SerialAsyncSession, sync_session_class=TrackedSession,
                              expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and commands: commit on success, roll back on error."""
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
