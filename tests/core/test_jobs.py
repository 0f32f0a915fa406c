"""Periodic jobs: registered by domains, run on their interval, a failed round changes nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from laoyou.core import jobs


async def test_jobs_run_on_their_interval_and_a_failure_rolls_back(app, db, monkeypatch):
    runs: list[str] = []

    async def counting(session) -> int:  # noqa: ANN001
        runs.append("ok")
        return 1

    async def failing(session) -> None:  # noqa: ANN001
        await session.execute(text("UPDATE district SET name = 'broken'"))
        runs.append("failed")
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs, "JOBS", {
        "counting": jobs.PeriodicJob("counting", 0.05, counting),
        "failing": jobs.PeriodicJob("failing", 0.05, failing),
    })
    monkeypatch.setattr(jobs, "load_domain_jobs", lambda: None)
    stop = asyncio.Event()
    runner = asyncio.create_task(jobs.run_periodic(app.state.sessionmaker, app.state.pubsub, stop))
    await asyncio.sleep(0.4)
    stop.set()
    await asyncio.wait_for(runner, 5)
    # Both ran several times; the failing one kept failing without stopping the other
    assert runs.count("ok") >= 3 and runs.count("failed") >= 3
    # And what the failing round wrote was rolled back
    assert await db.scalar(text("SELECT count(*) FROM district WHERE name = 'broken'")) == 0


async def test_scale_zero_turns_jobs_off(app):
    stop = asyncio.Event()
    await asyncio.wait_for(jobs.run_periodic(app.state.sessionmaker, app.state.pubsub, stop, scale=0), 1)


def test_work_orders_register_their_job():
    jobs.load_domain_jobs()
    assert jobs.JOBS["work_orders"].every_seconds == 300
