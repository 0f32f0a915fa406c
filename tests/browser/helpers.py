"""Shared constants and page helpers for the browser tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
STAFF_PASSWORD = "laoyou-demo-2026"
SHOTS = Path("/tmp/shots")

# The demo people the browser tests use (see laoyou.demo.data.DEMO_PEOPLE).
WANG_XIUYING = "13800000001"  # resident of 秀山花园
LI_GUILAN = "13800000002"  # resident of the Peking Opera house community
STEWARD_XIUSHAN = "13800000011"


# --- helpers ----------------------------------------------------------------------------------------


def login_demo(page: Any, phone: str) -> None:
    """One tap on a demo person on /login."""
    page.goto("/login")
    page.locator(f'form[action="/login/demo"]:has(input[name="phone"][value="{phone}"]) button').click()
    page.wait_for_url(re.compile(r"/$"))


def login_staff(page: Any, phone: str, password: str = STAFF_PASSWORD) -> None:
    page.goto("/login")
    page.locator("details summary").click()
    page.fill("#staff-phone", phone)
    page.fill("#password", password)
    page.locator('form[action="/login/password"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/$"))


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


TAPPABLE_TOO_SMALL = """
(minimum) => {
  const selector = "a, button, input:not([type=hidden]), select, textarea, summary, label";
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.tagName === "LABEL" && !el.querySelector("input, select, textarea")) continue;
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
