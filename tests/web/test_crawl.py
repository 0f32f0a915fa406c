"""Every role, every page its home leads to: nothing answers 404 or 5xx, and nothing holds up the next write.

Logged in as each demo person (the README's table), a crawler follows every same-origin link and GET form from
the home page, breadth first, with a sample of each kind of detail page (two of /orders/N, two of /briefings/N,
…). After every page a login (a write) must go through at once, with no connection left checked out and the
write gate free: one page that left a writer behind would otherwise freeze every login after it.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest

from laoyou.core.phone import national
from laoyou.demo.data import DEMO_PEOPLE

from .conftest import assert_released, browser, log_in

MAX_PAGES = 60  # per person: the homes lead to 30-60 kinds of page
SAMPLES_PER_KIND = 2  # pages whose paths differ only in their numbers (detail pages) are one kind
SKIPPED = ("/static/", "/logout")


class Links(HTMLParser):
    """The same-origin addresses a page leads to by a GET: its links, and its GET forms as first submitted."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.found: list[str] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.found.append(urljoin(self.base, a["href"]))
        elif tag == "form" and a.get("method", "get").lower() == "get":
            self._form = {"action": urljoin(self.base, a.get("action") or self.base), "fields": {}}
        elif self._form is not None and tag == "input" and a.get("name"):
            if a.get("type") not in ("checkbox", "radio", "submit", "file") or "checked" in a:
                self._form["fields"].setdefault(a["name"], a.get("value", ""))
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"].setdefault(self._select, None)  # the first option, unless one is selected
        elif self._form is not None and tag == "option" and self._select:
            fields = self._form["fields"]
            if fields[self._select] is None or "selected" in a:
                fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._form is not None:
            fields = {k: v for k, v in self._form["fields"].items() if v is not None}
            self.found.append(
                f"{self._form['action'].split('?')[0]}?{urlencode(fields)}"
                if fields
                else self._form["action"]
            )
            self._form = None


def same_origin_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
        return None  # tel:, mailto:, another site
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return None if path.startswith(SKIPPED) else path


def kind_of(path: str) -> str:
    return re.sub(r"\d+", "N", path)


@pytest.mark.parametrize("person", DEMO_PEOPLE, ids=lambda p: f"{p.role.value}-{national(p.phone)}")
async def test_every_page_a_role_reaches_works_and_releases_the_writer(own_app, collector_paused, person):
    async with browser(own_app) as http:
        # Given the person logged in
        await log_in(http, national(person.phone))
        queue, seen, kinds, failures = deque(["/"]), {"/"}, Counter(), []
        # When they open their home and everything it leads to
        while queue and len(seen) <= MAX_PAGES:
            path = queue.popleft()
            response = await http.get(path)
            # Then no page is missing or broken
            if response.status_code == 404 or response.status_code >= 500:
                failures.append(f"{path} answered {response.status_code}")
            # And the next write goes through at once, with nothing left checked out or holding the gate
            await assert_released(own_app, f"after {path}")
            if response.is_redirect:
                found = [urljoin(f"http://testserver{path}", response.headers["location"])]
            elif response.headers.get("content-type", "").startswith("text/html"):
                parser = Links(f"http://testserver{path}")
                parser.feed(response.text)
                found = parser.found
            else:
                continue
            for url in found:
                target = same_origin_path(url)
                if target is None or target in seen or kinds[kind_of(target)] >= SAMPLES_PER_KIND:
                    continue
                seen.add(target)
                kinds[kind_of(target)] += 1
                queue.append(target)
        assert not failures, f"{person.name} ({person.role.value}): " + "; ".join(failures)
        assert len(seen) > 5, f"{person.name}'s home led nowhere: {sorted(seen)}"
