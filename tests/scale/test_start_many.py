"""Starting and stopping many processes on one PostgreSQL database: migrations take turns under an advisory
lock, and a worker waits out a database that is down (one line, not a traceback a round) and carries on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from laoyou.core.migrate import _scripts

from ..conftest import BACKENDS
from ..pg import PostgresCluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="several processes need PostgreSQL"),
]

CLI = "from laoyou.cli import app; app()"


def laoyou(data_dir: Path, database_url: str, *arguments: str, log: Path, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "LAOYOU_MODE": "dev",
        "LAOYOU_DATA_DIR": str(data_dir),
        "LAOYOU_DATABASE_URL": database_url,
        "LAOYOU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "LAOYOU_LOG_LEVEL": "info",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log.open("wb") as output:  # the child writes to its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-c", CLI, *arguments], env=environment, stdout=output, stderr=subprocess.STDOUT
        )


async def test_three_migrations_started_together_on_an_empty_database_all_succeed(pg_cluster, tmp_path):
    # Given an empty database
    url = pg_cluster.create_database(f"laoyou_migrate_{uuid.uuid4().hex[:8]}")
    # When three `laoyou migrate` start at once
    logs = [tmp_path / f"migrate-{n}.log" for n in range(3)]
    processes = [laoyou(tmp_path, url, "migrate", log=log) for log in logs]
    codes = [process.wait(120) for process in processes]
    # Then each succeeds, and the database is at every head once
    assert codes == [0, 0, 0], [log.read_text() for log in logs]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            applied = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            applied = list(applied)
    finally:
        await engine.dispose()
    assert len(applied) == len(set(applied))
    assert set(_scripts().get_heads()) <= {
        revision.revision for revision in _scripts().iterate_revisions(tuple(applied), "base")
    }


def lines(log: Path, words: str) -> int:
    return sum(words in line for line in log.read_text(errors="replace").splitlines())


def wait_for(check, what: str, seconds: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.2)


def test_a_worker_waits_out_a_database_that_is_down_in_one_line_and_carries_on_by_itself(tmp_path):
    # Given a PostgreSQL server that is not running yet, and a worker pointed at it with jobs every 0.3 s
    cluster = PostgresCluster()
    log = tmp_path / "worker.log"
    worker = None
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{cluster.port}/postgres"
        worker = laoyou(
            tmp_path,
            url,
            "worker",
            log=log,
            LAOYOU_JOBS_INTERVAL_SCALE="0.001",
            LAOYOU_PUBSUB="postgres",
            TMPDIR=str(tmp_path),  # where it touches its heartbeat
        )
        # When it starts before its database, it says so once and waits
        wait_for(lambda: lines(log, "database unreachable"), "the worker found no database")
        time.sleep(3)
        assert worker.poll() is None, log.read_text()
        assert lines(log, "database unreachable") == 1, log.read_text()
        # and once the database is up, it migrates it and works
        cluster.start()
        wait_for(lambda: lines(log, "database reachable again") == 1, "the worker migrated the database")
        time.sleep(1)
        # When the database goes down under it, one more line, however many rounds it misses
        cluster.stop_server()
        time.sleep(4)
        assert worker.poll() is None, log.read_text()
        assert lines(log, "database unreachable") == 2, log.read_text()
        # while its loop keeps turning (what compose's health check reads)
        assert time.time() - (tmp_path / "laoyou-worker-alive").stat().st_mtime < 10
        # and when it is back, the worker carries on by itself
        cluster.start_server()
        wait_for(lambda: lines(log, "database reachable again") == 2, "the worker came back")
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        with contextlib.suppress(subprocess.CalledProcessError):  # not running: its files go all the same
            cluster.stop()
