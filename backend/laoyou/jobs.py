"""The periodic jobs of every domain, assembled for the worker (core.jobs runs them without knowing them)."""

from __future__ import annotations


def load_domain_jobs() -> None:
    """Import the modules that register jobs."""
    import laoyou.billing.jobs  # noqa: F401
    import laoyou.care.checkins.jobs  # noqa: F401
    import laoyou.care.sensors.jobs  # noqa: F401
    import laoyou.media.jobs  # noqa: F401
    import laoyou.models  # noqa: F401  (every table: media's cleanup keeps a file any table refers to)
    import laoyou.notify.reach.jobs  # noqa: F401
    import laoyou.support.jobs  # noqa: F401
    import laoyou.tickets.jobs  # noqa: F401
