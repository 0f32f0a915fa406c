"""Service levels per category and urgency: how soon someone must answer, and how soon it must be fixed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from laoyou.tickets.models import Category, Kind, Urgency


@dataclass(frozen=True)
class Sla:
    response: timedelta
    completion: timedelta


H = timedelta(hours=1)
M = timedelta(minutes=1)

# Normal urgency, per category (response, completion).
BASE: dict[Category, Sla] = {
    Category.water: Sla(2 * H, 24 * H),
    Category.electricity: Sla(2 * H, 24 * H),
    Category.sewer: Sla(2 * H, 24 * H),
    Category.lift: Sla(1 * H, 24 * H),
    Category.door_lock: Sla(2 * H, 24 * H),
    Category.lighting: Sla(4 * H, 48 * H),
    Category.greenery: Sla(24 * H, 7 * 24 * H),
    Category.cleanliness: Sla(4 * H, 24 * H),
    Category.noise: Sla(4 * H, 48 * H),
    Category.parking: Sla(4 * H, 48 * H),
    Category.security: Sla(1 * H, 24 * H),
    Category.other: Sla(8 * H, 72 * H),
    Category.gas: Sla(15 * M, 4 * H),
    Category.flooding: Sla(15 * M, 4 * H),
    Category.lift_trapped: Sla(15 * M, 1 * H),
}
# Complaints and suggestions are answered by the steward; the completion time is the time to resolve.
COMPLAINT = Sla(24 * H, 3 * 24 * H)
SUGGESTION = Sla(3 * 24 * H, 15 * 24 * H)
URGENT = Sla(30 * M, 8 * H)
RETURN_VISIT_AFTER = timedelta(days=3)
AUTO_CLOSE_AFTER = timedelta(days=7)


def sla_for(kind: str, category: str, urgency: str) -> Sla:
    """Emergency categories are always emergencies; urgency only ever shortens a time."""
    if kind == Kind.complaint:
        return COMPLAINT
    if kind == Kind.suggestion:
        return SUGGESTION
    base = BASE[Category(category)]
    if Category(category).is_emergency or urgency == Urgency.emergency:
        return Sla(min(base.response, 15 * M), min(base.completion, 4 * H))
    if urgency == Urgency.urgent:
        return Sla(min(base.response, URGENT.response), min(base.completion, URGENT.completion))
    return base


def due_times(kind: str, category: str, urgency: str, reported_at: datetime) -> tuple[datetime, datetime]:
    sla = sla_for(kind, category, urgency)
    return reported_at + sla.response, reported_at + sla.completion
