"""What the free text a person saves (names, messages, notes, briefings) may hold."""

from __future__ import annotations

import re

from laoyou.core.errors import ErrorCode, LaoyouError

# NUL ends strings in C tools and PostgreSQL refuses it in text; the other C0 controls (tab, line feed and carriage
# return aside) and DEL have no place in a name or a message either. The bidirectional embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069) make text show in an order other than the one it is stored in (Trojan
# Source, CVE-2021-42574): a name or a notice could show one thing and say another. The left-to-right and
# right-to-left marks (U+200E, U+200F) stay: they only place the neutral characters beside them, cannot reorder
# letters, and phones type them in mixed-script text.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def check_text(value: str | None, *, field: str) -> None:
    """Refuse text holding NUL, control characters or bidirectional overrides and isolates."""
    if value and _REFUSED.search(value):
        raise LaoyouError(
            ErrorCode.INVALID,
            "This text holds invisible control or direction characters. Please type it again.",
            field=field,
        )
