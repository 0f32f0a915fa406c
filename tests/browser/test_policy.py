"""The pages work under their content security policy and permissions policy: in Chromium, no script, style,
image, socket or device use is blocked on any page a resident, a steward or an agent reaches from home."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from .helpers import login_demo

pytestmark = pytest.mark.browser

BLOCKED = re.compile(
    r"Content Security Policy|Refused to|Permissions.policy|permissions policy", re.IGNORECASE
)

# Every policy violation the page reports, kept across navigations on the window's opener-less sessionStorage.
RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const seen = JSON.parse(sessionStorage.getItem("violations") || "[]");
  seen.push(`${e.violatedDirective} ${e.blockedURI} at ${location.pathname}`);
  sessionStorage.setItem("violations", JSON.stringify(seen));
});
"""
OPEN_SOCKET = """
() => new Promise((done) => {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
                               "graphql-transport-ws");
  socket.onopen = () => { socket.close(); done("open"); };
  socket.onerror = () => done("error");
})
"""


def watched(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of the page, and its policy violations, as they come."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.add_init_script(RECORD_VIOLATIONS)
    return problems


def violations(page: Any) -> list[str]:
    return page.evaluate("JSON.parse(sessionStorage.getItem('violations') || '[]')")


def links_from_home(page: Any) -> list[str]:
    page.goto("/")
    hrefs = page.eval_on_selector_all("a[href^='/']", "links => links.map(a => a.getAttribute('href'))")
    return sorted({urlsplit(h).path for h in hrefs if not h.startswith(("/logout", "/static/"))})


def visit_all(page: Any, paths: list[str], problems: list[str]) -> None:
    for path in paths:
        response = page.goto(path)
        # Whether each link works is the crawl test's business; here every page, error pages too, has its policy
        assert response is not None and "content-security-policy" in response.headers, path
        page.wait_for_load_state("load")
    blocked = [p for p in problems if BLOCKED.search(p)]
    assert not blocked and not violations(page), (blocked, violations(page))


@pytest.mark.parametrize(
    "phone", [RESIDENT_XIUSHAN, STEWARD_XIUSHAN, AGENT_NANNING], ids=["resident", "steward", "agent"]
)
def test_no_page_reached_from_home_breaks_its_policy(new_context: Any, phone: str) -> None:
    # Given a person logged in, with every console error and policy violation recorded
    page = new_context().new_page()
    problems = watched(page)
    login_demo(page, phone)
    # When they open every page their home links to, and the ones with the most script
    paths = sorted(
        {*links_from_home(page), "/", "/settings", "/offline", "/settings/notifications"}
        | ({"/support", "/repairs/new"} if phone == RESIDENT_XIUSHAN else set())
    )
    assert len(paths) >= 4, paths
    visit_all(page, paths, problems)
    # Then nothing was blocked, and the live updates' socket may connect
    assert page.evaluate(OPEN_SOCKET) == "open"
    assert not violations(page)


def test_the_read_aloud_and_live_badge_scripts_run_on_the_home_page(page: Any) -> None:
    problems = watched(page)
    login_demo(page, RESIDENT_XIUSHAN)
    # read-aloud.js is imported by app.js, and adds its buttons: it ran
    page.wait_for_selector("button.read-aloud")
    assert not [p for p in problems if BLOCKED.search(p)] and not violations(page)


def test_the_policy_does_block_what_it_forbids(page: Any) -> None:
    # A control: the same watch sees an injected inline script refused (so its silence above means something)
    problems = watched(page)
    page.goto("/login")
    page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.__ran = true";
      document.body.append(script);
    }""")
    assert page.evaluate("window.__ran === undefined")
    page.wait_for_function("() => JSON.parse(sessionStorage.getItem('violations') || '[]').length > 0")
    assert any("script-src" in v for v in violations(page)), violations(page)
    assert any(BLOCKED.search(p) for p in problems), problems
