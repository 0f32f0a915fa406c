"""A throwaway PostgreSQL cluster for the test run: initdb in a temp dir, a free port, stopped at exit.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .support.servers import free_port


def _bindir() -> Path | None:
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin.
    root = Path("/usr/lib/postgresql")
    versions = (
        sorted((p for p in root.glob("*/bin") if (p / "pg_ctl").exists()), reverse=True)
        if root.exists()
        else []
    )
    if versions:
        return versions[0]
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class PostgresCluster:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL server binaries not found; .ci/run installs the postgresql package"
            )
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="laoyou-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PostgresCluster:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"
        )
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the server of an initialised cluster (again, after stop_server) on the same port and data."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop_server(self) -> None:
        """Stop the server, keeping the cluster's data: as a database restart begins, every session is cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
