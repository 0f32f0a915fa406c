"""Periodic jobs: registered by domains, run on their interval, a failed round changes nothing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from sqlalchemy import text

from laoyou.core import jobs
from laoyou.core.metrics import Metrics
from laoyou.jobs import load_domain_jobs


class Clock:
    """A monotonic clock that moves only when the test moves it, and says once it has been read."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.read = asyncio.Event()

    def __call__(self) -> float:
        self.read.set()
        return self.now


async def test_jobs_run_on_their_interval_and_a_failure_rolls_back(app, db, monkeypatch):
    # Given two jobs every 0.0625 s of a clock the test moves (a binary fraction: no rounding at the boundary)
    clock = Clock()
    runs: list[tuple[str, float]] = []
    ran = {"counting": asyncio.Event(), "failing": asyncio.Event()}

    async def counting(session) -> int:  # noqa: ANN001
        runs.append(("ok", clock.now))
        ran["counting"].set()
        return 1

    async def failing(session) -> None:  # noqa: ANN001
        await session.execute(text("UPDATE district SET name = 'broken'"))
        runs.append(("failed", clock.now))
        ran["failing"].set()
        raise RuntimeError("boom")

    every = 0.0625
    monkeypatch.setattr(
        jobs,
        "JOBS",
        {
            "counting": jobs.PeriodicJob("counting", every, counting),
            "failing": jobs.PeriodicJob("failing", every, failing),
        },
    )
    # The runner's first read of the clock plans every job: from then on it waits for the clock to move.
    monkeypatch.setattr(jobs, "time", SimpleNamespace(monotonic=clock))
    stop = asyncio.Event()
    metrics = Metrics()
    runner = asyncio.create_task(
        jobs.run_periodic(app.state.sessionmaker, app.state.pubsub, stop, metrics=metrics)
    )
    await asyncio.wait_for(clock.read.wait(), 5)
    start = clock.now
    # When the clock passes three intervals, one at a time, and each round is seen to run
    for _ in range(3):
        for event in ran.values():
            event.clear()
        clock.now += every
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ran.values())), 5)
    stop.set()
    await asyncio.wait_for(runner, 5)
    # Then each ran once per interval and never before its first interval was over; the failing one kept
    # failing without stopping the other
    assert runs == [(kind, start + every * n) for n in (1, 2, 3) for kind in ("ok", "failed")]
    # And what the failing round wrote was rolled back
    assert await db.scalar(text("SELECT count(*) FROM district WHERE name = 'broken'")) == 0
    # And each run is counted for /metrics, by job and outcome
    counted = {
        (sample.labels["job"], sample.labels["outcome"]): sample.value
        for family in metrics.registry.collect()
        if family.name == "laoyou_job_runs"
        for sample in family.samples
        if sample.name == "laoyou_job_runs_total"
    }
    assert counted == {("counting", "ok"): 3, ("failing", "failed"): 3}


async def test_scale_zero_turns_jobs_off(app, monkeypatch):
    # Given a job that would be due at once
    runs: list[str] = []

    async def due(session) -> None:  # noqa: ANN001
        runs.append("ran")

    monkeypatch.setattr(jobs, "JOBS", {"due": jobs.PeriodicJob("due", 0, due)})
    # When the runner starts with scale 0 and nobody ever sets stop
    stop = asyncio.Event()
    await asyncio.wait_for(jobs.run_periodic(app.state.sessionmaker, app.state.pubsub, stop, scale=0), 5)
    # Then it returned on its own without running anything
    assert (runs, stop.is_set()) == ([], False)


def test_work_orders_register_their_job():
    load_domain_jobs()
    assert jobs.JOBS["work_orders"].every_seconds == 300
