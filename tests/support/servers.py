"""App processes for tests that need a real server: uvicorn subprocesses on free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLOCK = Path(__file__).parents[1] / "clock.py"  # runs uvicorn with the tests' clock (LAOYOU_TEST_CLOCK)
LOGIN = """mutation ($phone: String!) { loginAsDemoPerson(phone: $phone, sessionKind: BEARER) {
  __typename ... on LoggedIn { token } ... on Error { message } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running app at `url`, called over HTTP as another phone would: demo logins and GraphQL."""

    url: str

    def login(self, phone: str) -> str:
        """A bearer token for a demo person."""
        response = httpx.post(
            f"{self.url}/graphql", json={"query": LOGIN, "variables": {"phone": phone}}, timeout=10
        )
        data = response.json()["data"]["loginAsDemoPerson"]
        assert data["__typename"] == "LoggedIn", data
        return data["token"]

    def graphql(self, token: str, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        payload = response.json()
        assert not payload.get("errors"), payload
        return payload["data"]


class AppProcess(Server):
    def __init__(self, data_dir: Path, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "LAOYOU_MODE": "demo",
            "LAOYOU_DATA_DIR": str(data_dir),
            "LAOYOU_DATABASE_URL": database_url,
            "LAOYOU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "LAOYOU_DEMO_HOUSEHOLDS_SCALE": "0.02",
            "LAOYOU_LOGIN_CODES_PER_IP_HOUR": "1000",
            "LAOYOU_LOG_LEVEL": "warning",
            **env,
        }
        self.log = open(data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(CLOCK),
                "uvicorn",
                "--factory",
                "laoyou.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90) -> AppProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
