"""Logging what strangers can cause as often as they like, without letting them fill the disk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class BoundedLog:
    """At most `per_window` lines per window; past that, one line says the rest are counted, and the next line
    after the window says how many were left out. A flood costs at most `per_window + 2` lines a window."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_window: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.clock = clock
        self.window_start: float | None = None
        self.logged = 0
        self.left_out = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if self.window_start is None or now - self.window_start >= self.window_seconds:
            if self.left_out:
                self.logger.warning(
                    "%d more like this were not logged in the last %d s", self.left_out, self.window_seconds
                )
            self.window_start, self.logged, self.left_out = now, 0, 0
        if self.logged < self.per_window:
            self.logged += 1
            self.logger.warning(message, *args)
            return
        if not self.left_out:
            self.logger.warning(
                "more than %d like this within %d s: the rest are counted, not logged",
                self.per_window,
                self.window_seconds,
            )
        self.left_out += 1
