"""The docker files and the README stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from laoyou.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_compose_has_app_and_postgres_with_health_checks_and_volumes():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / "docker" / "Dockerfile").exists()
    assert "healthz" in " ".join(app["healthcheck"]["test"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["LAOYOU_MODE"] == "production"
    assert app["environment"]["LAOYOU_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert set(compose["volumes"]) == {"media", "pgdata", "mqtt", "mqtt-certs"}
    # The sensors' broker reads the logins the app writes, and is off unless its profile is asked for.
    mosquitto = compose["services"]["mosquitto"]
    assert "mqtt:/mosquitto/auth:ro" in mosquitto["volumes"] and mosquitto["profiles"] == ["sensors"]
    # Every variable the app is given is a real setting.
    fields = {f"LAOYOU_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in app["environment"] if k.startswith("LAOYOU_")} <= fields


def test_dockerfile_copies_what_the_app_reads():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for path in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / path).exists(), path
    assert "laoyou" in dockerfile and "/healthz" in dockerfile


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`LAOYOU_{name.upper()}`" in readme, name
