"""Run the tests, and the app processes they start, as if it were another time of day.

LAOYOU_TEST_CLOCK=23:59 means 23:59 Shanghai wall time today (or a full "2026-12-31T23:59", Shanghai when it
names no zone); the clock then ticks on from there. The test process turns it into LAOYOU_TEST_CLOCK_SHIFT,
seconds to add to the real time, so that the app processes it starts (`python tests/clock.py uvicorn ...`)
share its moved clock. Only Python's clock moves: the app takes every time from Python, never from the
database server's now().
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import time_machine

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOCK = "LAOYOU_TEST_CLOCK"
SHIFT = "LAOYOU_TEST_CLOCK_SHIFT"


def destination(text: str, now: datetime) -> datetime:
    """The instant LAOYOU_TEST_CLOCK names, as aware UTC."""
    try:
        wall = datetime.strptime(text, "%H:%M")
    except ValueError:
        moment = datetime.fromisoformat(text)
    else:  # today in Shanghai
        moment = now.astimezone(SHANGHAI).replace(hour=wall.hour, minute=wall.minute, second=0, microsecond=0)
    return (moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def start() -> time_machine.travel | None:
    """Move this process's clock as the environment asks, telling child processes how far; None if it does not."""
    if os.environ.get(SHIFT):
        shift = float(os.environ[SHIFT])
    elif os.environ.get(CLOCK):
        shift = destination(os.environ[CLOCK], datetime.now(UTC)).timestamp() - time.time()
        os.environ[SHIFT] = repr(shift)
    else:
        return None
    traveller = time_machine.travel(time.time() + shift, tick=True)
    traveller.start()
    return traveller


if __name__ == "__main__":
    # `python tests/clock.py MODULE ARGS...` runs `python -m MODULE ARGS...` under the moved clock.
    start()
    # As `python -m` would: the working directory first on the path, not tests/ (whose graphql/ would shadow
    # graphql-core).
    sys.path[0] = os.getcwd()
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
