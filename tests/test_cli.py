"""The `laoyou` command, run as a person would run it."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def laoyou(*args: str, data_dir: Path, input: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "LAOYOU_DATA_DIR": str(data_dir), **env}
    environment.pop("LAOYOU_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "laoyou.cli", *args],
        capture_output=True,
        text=True,
        input=input,
        env=environment,
        timeout=120,
        cwd=ROOT,
    )


def test_export_schema_prints_the_sdl_and_writes_a_file(tmp_path):
    printed = laoyou("export-schema", data_dir=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "type Query" in printed.stdout
    laoyou("export-schema", "--output", str(tmp_path / "s.graphql"), data_dir=tmp_path)
    assert (tmp_path / "s.graphql").read_text() == printed.stdout


def test_migrate_then_create_admin(tmp_path):
    assert laoyou("migrate", data_dir=tmp_path).returncode == 0
    created = laoyou(
        "create-admin",
        "--phone",
        "13912345678",
        "--name",
        "管理员",
        "--password",
        "a-long-password",
        data_dir=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        (phone, role) = db.execute(
            "SELECT person.phone, role_grant.role FROM person JOIN role_grant ON role_grant.person_id = person.id"
        ).fetchone()
        assert (phone, role) == ("+8613912345678", "admin")
        assert db.execute("SELECT journal_mode FROM pragma_journal_mode").fetchone()[0] == "wal"
    # A short password is refused and nothing changes.
    refused = laoyou(
        "create-admin", "--phone", "13912345679", "--name", "x", "--password", "short", data_dir=tmp_path
    )
    assert refused.returncode == 2
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM person").fetchone()[0] == 1


def test_production_refuses_the_default_secret(tmp_path):
    refused = laoyou("migrate", data_dir=tmp_path, LAOYOU_MODE="production")
    assert refused.returncode == 2
    assert "LAOYOU_SECRET_KEY" in refused.stderr


def test_demo_serves_with_demo_data_and_health(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LAOYOU_DEMO_HOUSEHOLDS_SCALE": "0.02"}
    env.pop("LAOYOU_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "laoyou.cli", "demo", "--port", str(port), "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("the demo never became healthy")
        login = httpx.get(f"http://127.0.0.1:{port}/login")
        assert "王秀英" in login.text and "老友管理员" in login.text
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "Demo data loaded" in output
