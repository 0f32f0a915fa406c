"""A real Mosquitto broker for the test run: a generated config on a free port, logins from a password file made
with mosquitto_passwd, the ACL Laoyou writes, stopped at exit.

Missing locally, the tests that need it are skipped; in CI (.ci/run installs the package) a missing broker fails.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from laoyou.care.sensors import service as sensors

from .support.servers import free_port

LAOYOU_USER = "laoyou"


def in_ci() -> bool:
    """Under .ci/run (its throwaway environment) or a CI service: a missing broker is a failure there."""
    return bool(os.environ.get("CI")) or "laoyou-ci." in sys.prefix


class Mosquitto:
    def __init__(self) -> None:
        binary, passwd = shutil.which("mosquitto") or "/usr/sbin/mosquitto", shutil.which("mosquitto_passwd")
        if not Path(binary).exists() or passwd is None:
            message = "mosquitto not found; .ci/run installs the mosquitto package"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        self.binary, self.passwd_binary = binary, passwd
        self.dir = Path(tempfile.mkdtemp(prefix="laoyou-mqtt-"))
        self.port = free_port()
        self.password = "laoyou-" + os.urandom(8).hex()
        self.process: subprocess.Popen | None = None
        self.log_file = None

    @property
    def url(self) -> str:
        return f"mqtt://{LAOYOU_USER}:{self.password}@127.0.0.1:{self.port}"

    def write_logins(self, devices: str = "") -> None:
        """Laoyou's own login (by mosquitto_passwd), then the devices' lines as Laoyou writes them."""
        passwords = self.dir / "passwords"
        subprocess.run(
            [self.passwd_binary, "-c", "-b", str(passwords), LAOYOU_USER, self.password],
            check=True,
            capture_output=True,
        )
        with passwords.open("a") as file:
            file.write(devices)
        (self.dir / "acl").write_text(sensors.acl_file(LAOYOU_USER))

    def start(self, logins: Path | None = None) -> Mosquitto:
        """Start with logins made here, or with the password file and ACL `laoyou mqtt-logins` wrote there."""
        if logins is None:
            self.write_logins()
        else:
            for name in ("passwords", "acl"):
                shutil.copy(logins / name, self.dir / name)
        (self.dir / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {self.dir / 'passwords'}\n"
            f"acl_file {self.dir / 'acl'}\n"
            "persistence false\n"
            # As root it would otherwise drop to a `mosquitto` user who cannot read this temporary directory.
            f"user {getpass.getuser()}\n"
        )
        self.log_file = (self.dir / "log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.dir / 'log').read_text(errors='replace')}")

    def reload(self, devices: str) -> None:
        """New device logins: rewrite the password file and tell the broker (SIGHUP), as an operator would."""
        self.write_logins(devices)
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.log_file is not None:
            self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)
