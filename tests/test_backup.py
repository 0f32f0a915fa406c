"""`laoyou backup` of a busy demo and `laoyou restore` into an empty place: every row and media file intact."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from laoyou.accounts.models import AuditEvent

from .conftest import STEWARD_XIUSHAN, graphql_client, login_demo, make_database_url, make_settings, started
from .tickets.helpers import jpeg, upload_photo

ROOT = Path(__file__).resolve().parents[1]


async def laoyou(*args: str, data_dir: Path, database_url: str) -> tuple[int, str]:
    environment = {**os.environ, "LAOYOU_DATA_DIR": str(data_dir), "LAOYOU_DATABASE_URL": database_url}
    environment["PYTHONPATH"] = str(ROOT / "backend")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "laoyou.cli",
        *args,
        env=environment,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode, output.decode()


async def every_row(database_url: str) -> dict[str, set[str]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            return {
                name: {repr(tuple(row)) for row in await connection.execute(select(table))}
                for name, table in metadata.tables.items()
            }
    finally:
        await engine.dispose()


async def busy_writes(database_url: str) -> list[int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                select(AuditEvent.detail).where(AuditEvent.action == "test.busy")
            )
            return sorted(int(detail) for (detail,) in found)
    finally:
        await engine.dispose()


def media_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


async def test_a_busy_demo_is_backed_up_and_restored_whole(tmp_path, backend, request) -> None:
    source_dir, target_dir = tmp_path / "a", tmp_path / "b"
    source_url = make_database_url(backend, tmp_path, request)
    async with started(make_settings(source_dir, source_url)) as app:
        # Given the demo with photos uploaded by a steward
        async with graphql_client(app) as gql:
            steward = await login_demo(gql, STEWARD_XIUSHAN)
            communities = (await steward("{ viewer { staffCommunities { id } } }"))["data"]["viewer"]
            community_id = communities["staffCommunities"][0]["id"]
            transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                for shade in range(3):
                    uploaded = await upload_photo(
                        http, steward.token, community_id, jpeg(400 + shade * 10, 300)
                    )
                    assert uploaded.status_code == 201, uploaded.text
        before = await every_row(source_url)
        files_before = media_files(source_dir / "media")
        vapid_before = media_files(source_dir / "vapid")
        assert len(files_before) >= 3 and sum(len(rows) for rows in before.values()) > 100

        # When it is backed up while the app goes on writing
        stop = asyncio.Event()

        async def keep_writing() -> int:
            written = 0
            while not stop.is_set():
                async with app.state.sessionmaker() as session:
                    session.add(AuditEvent(action="test.busy", detail=str(written)))
                    await session.commit()
                written += 1
                await asyncio.sleep(0.005)
            return written

        writer = asyncio.create_task(keep_writing())
        archive = tmp_path / "laoyou-backup.tar.gz"
        code, said = await laoyou(
            "backup", "--output", str(archive), data_dir=source_dir, database_url=source_url
        )
        stop.set()
        assert await writer > 0
        assert code == 0, said
        assert (
            "Wrote" in said and archive.exists() and not archive.with_name(archive.name + ".partial").exists()
        )

    # Then it restores into an empty data directory and database
    target_url = make_database_url(backend, tmp_path, request)
    code, said = await laoyou("restore", str(archive), data_dir=target_dir, database_url=target_url)
    assert code == 0, said
    after = await every_row(target_url)
    # with every row that was there before the backup (and the writes it caught, whole)
    for table, rows in before.items():
        assert rows <= after[table], table
    busy = await busy_writes(target_url)
    assert busy == list(range(len(busy)))  # a prefix of what was written: a consistent snapshot
    # and every media file, byte for byte
    assert media_files(target_dir / "media") == files_before
    # and the VAPID key the devices' push subscriptions are bound to
    assert media_files(target_dir / "vapid") == vapid_before != {}
    # And the restored Laoyou starts and serves
    async with started(make_settings(target_dir, target_url), load_demo=False) as restored:
        transport = httpx.ASGITransport(app=restored, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/readyz")).status_code == 200
        async with graphql_client(restored) as gql:
            await login_demo(gql, STEWARD_XIUSHAN)

    # And restoring again over it is refused, changing nothing
    served = await every_row(target_url)
    code, said = await laoyou("restore", str(archive), data_dir=target_dir, database_url=target_url)
    assert code == 1 and "Restore refused" in said
    assert await every_row(target_url) == served


async def test_restore_refuses_what_is_not_a_backup_and_backup_never_overwrites(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x' / 'laoyou.sqlite3'}"
    stray = tmp_path / "stray.tar.gz"
    stray.write_bytes(b"not an archive at all")
    code, said = await laoyou("restore", str(stray), data_dir=tmp_path / "x", database_url=url)
    assert code == 1 and "Restore refused" in said
    assert not (tmp_path / "x" / "laoyou.sqlite3").exists()
    code, said = await laoyou("backup", "--output", str(stray), data_dir=tmp_path / "x", database_url=url)
    assert code == 1 and "already exists" in said
    assert stray.read_bytes() == b"not an archive at all"
