"""Shared constants and page helpers for the browser tests."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from laoyou.demo.data import DEMO_STAFF_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
# Screenshots for a person to look at, taken only when asked for:
# LAOYOU_SCREENSHOTS=/some/dir python3 -m pytest tests/browser/test_briefings.py
SCREENSHOTS = os.environ.get("LAOYOU_SCREENSHOTS")
# axe-core's checks: WCAG 2.0 and 2.1, levels A and AA.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


# --- helpers ----------------------------------------------------------------------------------------


def logged_in(new_context: Any, phone: str, **options: Any) -> Any:
    """A page in a phone of its own (the new_context fixture), logged in as a demo person."""
    page = new_context(**options).new_page()
    login_demo(page, phone)
    return page


def login_demo(page: Any, phone: str) -> None:
    """One tap on a demo person on /login."""
    page.goto("/login")
    page.locator(f'form[action="/login/demo"]:has(input[name="phone"][value="{phone}"]) button').click()
    page.wait_for_url(re.compile(r"/$"))


def login_staff(page: Any, phone: str, password: str = DEMO_STAFF_PASSWORD) -> None:
    """The staff form on /login, folded away under its summary: phone and password."""
    page.goto("/login")
    page.locator("details summary").click()
    page.fill("#staff-phone", phone)
    page.fill("#password", password)
    page.locator('form[action="/login/password"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/$"))


def shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


class Taps:
    """Counts what the person taps."""

    def __init__(self) -> None:
        self.count = 0

    def on(self, locator: Any) -> None:
        self.count += 1
        locator.click()


def assert_accessible(axe: Any, page: Any, name: str, *, unfold: bool = False) -> None:
    """axe-core finds nothing on the page; unfold: open every folded <details> first, to check what is inside."""
    if unfold:
        # Handles, not nth() locators: each click opens one, which would shift the positions of those after it.
        for summary in page.locator("details:not([open]) > summary").element_handles():
            summary.click()
    found = axe_violations(axe, page)
    assert not found, f"{name} ({page.url}):\n{found}"


def axe_violations(axe: Any, page: Any) -> str:
    """What axe-core finds against WCAG 2.1 A and AA on the page as it is now, a line per rule; empty if nothing."""
    violations = axe.run(page, options=AXE_OPTIONS).response.get("violations", [])
    return "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}: " + "; ".join(str(n["target"][0]) for n in v["nodes"][:5])
        for v in violations
    )


# Everything a finger can land on that is shown. A label counts when it holds its control (a tap anywhere on it
# works the control); a radio button or a checkbox inside its label is tapped through the whole label, so the label
# is what is measured. Within half a pixel of the minimum is enough: layout sizes are fractional.
TAPPABLE_TOO_SMALL = """
(minimum) => {
  const selector = 'a, button, input:not([type=hidden]), select, textarea, summary, label, [role=button], '
    + '[tabindex]:not([tabindex="-1"])';
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.tagName === "LABEL" && !el.querySelector("input, select, textarea")) continue;
    if (el.matches("input[type=radio], input[type=checkbox]") && el.closest("label")) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none" || !el.getClientRects().length) continue;
    const box = el.getBoundingClientRect();
    if (box.width < minimum - 0.5 || box.height < minimum - 0.5) {
      const text = (el.textContent || el.getAttribute("name") || el.id || "").trim().replace(/\\s+/g, " ");
      small.push(`${el.tagName.toLowerCase()} "${text.slice(0, 40)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}
"""

TEXT_TOO_SMALL = """
(minimum) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const small = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest("script, style, svg, [hidden]")) continue;
    if (!el.getClientRects().length) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < minimum - 0.01) small.push(`${el.tagName.toLowerCase()} "${node.textContent.trim().slice(0, 30)}" ${size}px`);
  }
  return small;
}
"""


def tappable_too_small(page: Any, minimum: int = 60) -> list[str]:
    return page.evaluate(TAPPABLE_TOO_SMALL, minimum)


def text_too_small(page: Any, minimum: int = 18) -> list[str]:
    return page.evaluate(TEXT_TOO_SMALL, minimum)


def font_size(page: Any, selector: str = "body") -> float:
    return page.evaluate("(s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize)", selector)
