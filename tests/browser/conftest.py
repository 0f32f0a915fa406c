"""Browser tests: the real app under uvicorn in a background thread, driven by Debian's chromium.

One server per test session (SQLite in a temporary directory, the demo data at a small scale), one
browser per module; every test gets fresh browser contexts at a phone's size (360×740), so cookies, caches and
service workers never leak from one test to the next. A module whose tests change what others would see (bills
paid, work orders reported) runs a server of its own instead (`own_server`), and says so by overriding `site`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..support.servers import AppProcess, Server, free_port
from .helpers import CHROMIUM, CHROMIUM_ARGS, PHONE


@dataclass
class LiveServer(Server):
    url: str
    app: Any

    def sms_code(self, phone: str) -> str:
        """The 6-digit code in the last SMS sent to a Chinese mobile number."""
        text = self.app.state.sms.last_to(f"+86{phone}")
        assert text, f"no SMS was sent to {phone}"
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", text)
        assert match, text
        return match.group(1)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    from laoyou.app import create_app
    from laoyou.core.settings import Settings
    from laoyou.core.websocket_server import SOCKET_OPTIONS

    tmp = tmp_path_factory.mktemp("browser-app")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        mode="demo",
        data_dir=tmp,
        database_url=f"sqlite+aiosqlite:///{tmp / 'browser.sqlite3'}",
        secret_key="browser-test-secret-key-that-is-long-enough-0123",
        demo_households_scale=0.02,
        login_codes_per_ip_hour=1000,
        public_url=url,
    )
    app = create_app(settings)
    server = uvicorn.Server(
        # Sockets as `laoyou serve` runs them, so that the PWA's live pages are tried on that protocol.
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **SOCKET_OPTIONS)
    )
    thread = threading.Thread(target=server.run, name="laoyou-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the app did not start")
        time.sleep(0.2)
    yield LiveServer(url=url, app=app)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def own_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AppProcess]:
    """A server process of the module's own, on a fresh SQLite database."""
    tmp = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'b.sqlite3'}").wait_ready()
    yield app
    app.stop()


@pytest.fixture
def site(live_server: LiveServer) -> dict[str, Any]:
    """Where the phones of new_context go, and in which language: the shared server, in Chinese."""
    return {"base_url": live_server.url, "locale": "zh-CN"}


@pytest.fixture(scope="module")
def axe() -> Any:
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


# A fake camera and microphone that need no permission prompt: the call tests connect WebRTC over loopback.
FAKE_MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per module, for every browser test: two sync Playwright instances cannot be alive at once."""
    if not Path(CHROMIUM).exists():
        # A missing browser must fail the run, not skip it: .ci/run installs Debian's chromium.
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    """Make fresh phone-sized browser contexts (each a phone of its own); all are closed after the test."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        values = {"viewport": PHONE, "service_workers": "allow", **site, **options}
        context = browser.new_context(**values)
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context: Any) -> Any:
    return new_context().new_page()
