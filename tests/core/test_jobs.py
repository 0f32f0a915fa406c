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


def test_an_unreachable_database_is_one_line_with_growing_pauses_and_one_when_it_is_back(caplog, monkeypatch):
    # Given two loops of one process, and the database gone
    monkeypatch.setattr(jobs.Outage, "down", False)
    worker, periodic = jobs.Outage("the push worker"), jobs.Outage("the periodic jobs")
    refused = ConnectionRefusedError(111, "Connection refused")
    shutting_down = RuntimeError("the database system is shutting down")
    shutting_down.sqlstate = "57P03"  # as asyncpg's CannotConnectNowError carries it
    wrapped = RuntimeError("(asyncpg.Error) the database system is shutting down\n[SQL: SELECT 1]")
    wrapped.__cause__ = shutting_down
    with caplog.at_level("WARNING", logger="laoyou.jobs"):
        # When both fail round after round
        pauses = [worker.failed(refused) for _ in range(6)]
        assert periodic.failed(wrapped) == 1.0
        # Then the waits grow up to a bound, and one line says the database is unreachable
        assert pauses == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
        assert [r.getMessage() for r in caplog.records] == [
            "database unreachable (ConnectionRefusedError: [Errno 111] Connection refused), noticed by the push"
            " worker; trying again with growing pauses"
        ]
        # and when it is back, one line says so, and the next outage starts from the first pause again
        worker.succeeded()
        periodic.succeeded()
        assert caplog.records[-1].getMessage() == "database reachable again (the push worker)"
        assert len(caplog.records) == 2
        assert worker.failed(refused) == 1.0
    # Any other failure is not an outage: the caller reports it as its own
    assert worker.failed(ValueError("a bug")) is None
    assert not jobs.unreachable(ValueError("a bug"))


async def _busy(stop: asyncio.Event, turns: int | None = None) -> None:
    """Keeps the event loop occupied: 20 ms of work at a time, giving way between turns as a request does."""
    done = 0
    while not stop.is_set() and (turns is None or done < turns):
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 0.02:
            pass
        done += 1
        await asyncio.sleep(0)
    stop.set()


async def test_background_work_waits_for_the_apps_own_work_to_pass():
    # Given the loop busy with 15 turns of the app's work
    finished = asyncio.Event()
    busy = asyncio.create_task(_busy(finished, turns=15))
    await asyncio.sleep(0)
    # When background work waits for calm, with patience to spare
    await jobs.until_calm(patience=30)
    # Then it went on only after that work was done
    assert finished.is_set()
    await busy


async def test_background_work_is_delayed_not_starved_under_steady_load():
    # Given the loop busy for as long as the test lasts
    stop = asyncio.Event()
    busy = asyncio.create_task(_busy(stop))
    try:
        # When background work waits for calm with 0.2 s of patience, Then it goes on while the load lasts
        await asyncio.wait_for(jobs.until_calm(patience=0.2), timeout=10)
        assert not stop.is_set()
    finally:
        stop.set()
        await busy
