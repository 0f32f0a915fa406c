"""Embedded SQLite: writers queue in the process (WriteGate), and a statement is one trip to the driver's thread."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from laoyou.core.db import WriteGate, make_engine, make_sessionmaker

from ..conftest import make_settings


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    engine = make_engine(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}"))
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        )
    yield engine
    await engine.dispose()


def gate_of(engine: Any) -> WriteGate:
    return WriteGate.for_database(engine.url.database)


class ObservedLock(asyncio.Lock):
    """The gate's lock, telling the test when a writer finds it taken and starts to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    async def acquire(self) -> bool:
        if self.locked():
            self.waiting.set()
        return await super().acquire()


async def count(maker: Any) -> int:
    async with maker() as session:
        return await session.scalar(text("SELECT count(*) FROM item"))


async def test_a_second_writer_waits_in_the_process_not_in_sqlites_busy_handler(engine, monkeypatch):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    lock = ObservedLock()
    monkeypatch.setattr(gate, "lock", lambda: lock)
    async with maker() as first, maker() as second:
        # Given a session that has written and not yet committed (it holds SQLite's write lock)
        await first.execute(text("INSERT INTO item (name) VALUES ('first')"))
        assert gate.lock().locked()
        # And a second session whose connection would give up at once in SQLite's busy handler
        await second.execute(text("PRAGMA busy_timeout=0"))
        # When the second writes while the first still holds the lock
        writing = asyncio.create_task(second.execute(text("INSERT INTO item (name) VALUES ('second')")))
        # Then it reaches the gate, finds it taken and waits there
        await asyncio.wait_for(lock.waiting.wait(), 5)
        assert not writing.done()
        # And once the first commits, it writes (no "database is locked") and commits in turn
        await first.commit()
        await writing
        await second.commit()
    assert await count(maker) == 2
    assert not gate.lock().locked()


async def test_many_concurrent_writers_all_succeed(engine):
    maker = make_sessionmaker(engine)

    async def write(n: int) -> None:
        async with maker() as session:
            await session.scalar(text("SELECT count(*) FROM item"))  # read first, as a request does
            await session.execute(text("INSERT INTO item (name) VALUES (:n)"), {"n": f"item-{n}"})
            await asyncio.sleep(0)  # hold the lock across a turn of the loop
            await session.execute(
                text("UPDATE item SET name = name || '!' WHERE name = :n"), {"n": f"item-{n}"}
            )
            await session.commit()

    await asyncio.gather(*(write(n) for n in range(30)))
    assert await count(maker) == 30
    async with maker() as session:
        names = (await session.execute(text("SELECT name FROM item"))).scalars().all()
    assert sorted(names) == sorted(f"item-{n}!" for n in range(30))
    assert not gate_of(engine).lock().locked()


async def test_a_session_that_holds_the_gate_writes_again_without_waiting_on_itself(engine):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    gate.timeout, timeout = 1, gate.timeout  # a deadlock would end in OperationalError after a second
    try:
        async with maker() as session:
            await session.execute(text("INSERT INTO item (name) VALUES ('a')"))
            await session.execute(text("INSERT INTO item (name) VALUES ('b')"))
            await session.execute(text("UPDATE item SET name = 'c' WHERE name = 'b'"))
            await session.commit()
    finally:
        gate.timeout = timeout
    assert await count(maker) == 2


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
async def test_the_gate_is_given_back_when_the_transaction_ends(engine, end):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    session = maker()
    await session.execute(text("INSERT INTO item (name) VALUES ('x')"))
    assert gate.lock().locked()
    await getattr(session, end)()
    assert not gate.lock().locked()
    await session.close()
    # And the next writer goes straight through
    async with maker() as other:
        await other.execute(text("INSERT INTO item (name) VALUES ('y')"))
        await other.commit()


async def test_the_gate_is_given_back_when_a_write_fails(engine):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    async with maker() as session:
        await session.execute(text("INSERT INTO item (name) VALUES ('same')"))
        await session.commit()
    async with maker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO item (name) VALUES ('same')"))
        await session.rollback()
        assert not gate.lock().locked()
    async with maker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO item (name) VALUES ('same')"))
    assert not gate.lock().locked()  # closed without a rollback of its own


async def test_a_writer_that_waits_too_long_gets_database_is_locked(engine):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    gate.timeout, timeout = 0.2, gate.timeout
    try:
        async with maker() as holder, maker() as waiter:
            await holder.execute(text("INSERT INTO item (name) VALUES ('held')"))
            with pytest.raises(OperationalError, match="database is locked"):
                await waiter.execute(text("INSERT INTO item (name) VALUES ('late')"))
            await holder.commit()
    finally:
        gate.timeout = timeout
    assert not gate.lock().locked()
    assert await count(maker) == 1


async def test_reads_and_savepoints_do_not_take_the_gate(engine):
    maker = make_sessionmaker(engine)
    gate = gate_of(engine)
    async with maker() as session:
        await session.scalar(text("SELECT count(*) FROM item"))
        assert not gate.lock().locked()
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SAVEPOINT s")
        await connection.exec_driver_sql("RELEASE SAVEPOINT s")
        assert not gate.lock().locked()


async def test_a_statement_is_one_trip_to_the_drivers_thread(engine, monkeypatch):
    maker = make_sessionmaker(engine)
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    async with maker() as session:
        await session.scalar(text("SELECT 1"))  # the connection is open before counting
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        # When a statement with rows runs, and one without
        rows = (await session.execute(text("SELECT 1 UNION ALL SELECT 2"))).scalars().all()
        inserted = await session.execute(text("INSERT INTO item (name) VALUES ('one')"))
        updated = await session.execute(text("UPDATE item SET name = 'two' WHERE name = 'one'"))
        # Then each made a single trip, and the rows, row count and new row id came back with it
        assert trips == ["_run_statement"] * 3
    assert rows == [1, 2]
    assert inserted.lastrowid == 1 and updated.rowcount == 1


async def test_many_rows_at_once_and_errors_come_back_as_before(engine):
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await session.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(5)]
        )
        await session.commit()
    assert await count(maker) == 5
    async with maker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO item (name) VALUES ('n1')"))
        empty = await session.execute(text("SELECT name FROM item WHERE name = 'nobody'"))
        assert empty.all() == []
