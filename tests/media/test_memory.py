"""Uploads cannot exhaust the server's memory: a dozen decompression bombs and big photos sent at once leave the
server (and the processes it decodes in) under 400 MB, and it goes on answering.

Memory is measured on a real server process, from /proc: the proportional set size (Pss) of the server and all
its descendants, sampled while the uploads run, and the server's own high-water mark (VmHWM), which no sampling
can miss. Pss, not the sum of VmRSS: a decoder is forked from the fork server and shares its interpreter and
Pillow pages, which VmRSS would count once per process (about 50 MB more than the machine holds).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ..conftest import RESIDENT_XIUSHAN, make_database_url
from ..support.servers import AppProcess
from .helpers import png_of_one_colour

LIMIT_KB = 400 * 1024
HOME = "query { viewer { households { community { id } } } }"
TOO_LARGE = {"error": {"field": "file", "message": "This photo is too large. Please send a smaller one."}}


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants, as they are now."""
    found = [pid]
    try:
        for thread in Path(f"/proc/{pid}/task").iterdir():
            for child in (thread / "children").read_text().split():
                found += process_tree(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass  # it ended while we looked
    return found


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def pss_kb(pid: int) -> int:
    """What the process holds, its pages shared with others counted in shares."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_kb(pid: int) -> int:
    return sum(pss_kb(p) for p in process_tree(pid))


@pytest.fixture
def server(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppProcess]:
    app = AppProcess(tmp_path, make_database_url(backend, tmp_path, request), LAOYOU_JOBS_INTERVAL_SCALE="0")
    try:
        yield app.wait_ready(timeout=180)
    finally:
        app.stop()


async def test_decompression_bombs_and_big_photos_at_once_keep_the_server_under_400_mb(server):
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
        # Given a resident logged in to a running server
        token = server.login(RESIDENT_XIUSHAN)
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        community_id = server.graphql(token, HOME)["viewer"]["households"][0]["community"]["id"]

        async def post(data: bytes) -> httpx.Response:
            return await http.post(
                "/media",
                files={"file": ("photo.png", data, "image/png")},
                data={"community_id": community_id},
                headers=headers,
            )

        peak = tree_kb(pid)
        sending = True

        async def watch() -> None:
            nonlocal peak
            while sending:
                peak = max(peak, tree_kb(pid))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        # When she sends, all at once, twelve 130 KB PNGs of 6300×6300 pixels (160 MB each, decoded) and three
        # of the largest photos allowed, 4096×4096 with transparency (64 MB each, decoded)
        bomb, biggest = png_of_one_colour(6300), png_of_one_colour(4096, alpha=True)
        try:
            responses = await asyncio.gather(
                *[post(bomb) for _ in range(12)], *[post(biggest) for _ in range(3)]
            )
        finally:
            sending = False
            await watcher
        # Then the server with its decoding processes never held 400 MB, the bombs are refused and the photos
        # stored
        assert peak < LIMIT_KB, f"{peak // 1024} MB"
        assert status_kb(pid, "VmHWM") < LIMIT_KB, f"{status_kb(pid, 'VmHWM') // 1024} MB"
        assert [(r.status_code, r.json()) for r in responses[:12]] == [(400, TOO_LARGE)] * 12
        assert [r.status_code for r in responses[12:]] == [201] * 3, [r.text for r in responses[12:]]
        # And it still answers, holds no more than that afterwards, and serves what was stored
        assert (await http.get("/healthz")).status_code == 200
        assert server.graphql(token, HOME)["viewer"]["households"][0]["community"]["id"] == community_id
        stored = await http.get(responses[12].json()["url"], headers=headers)
        assert stored.status_code == 200 and Image.open(io.BytesIO(stored.content)).size == (2048, 2048)
        assert tree_kb(pid) < LIMIT_KB
