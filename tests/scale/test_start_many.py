"""Starting and stopping many processes on one PostgreSQL database: migrations take turns under an advisory
lock, and a worker waits out a database that is down (one line, not a traceback a round) and carries on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from laoyou.core.migrate import _scripts

from ..conftest import BACKENDS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="several processes need PostgreSQL"),
]

CLI = "from laoyou.cli import app; app()"


def laoyou(data_dir: Path, database_url: str, *arguments: str, log: Path) -> subprocess.Popen:
    environment = {
        **os.environ,
        "LAOYOU_MODE": "dev",
        "LAOYOU_DATA_DIR": str(data_dir),
        "LAOYOU_DATABASE_URL": database_url,
        "LAOYOU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "LAOYOU_LOG_LEVEL": "info",
        "PYTHONUNBUFFERED": "1",
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
