"""The docker files and the README stay in step with the code: the engine cannot run here, so the compose
file, the Dockerfile and the proxy's and TURN server's configuration are read and checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from laoyou.billing.gateways.registry import PaySettings
from laoyou.core.settings import Settings
from laoyou.media.service import MAX_VIDEO_BYTES

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


# Added by the S3 work (issue 19 part 2), in flight on another branch; remove at merge.
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def real_settings() -> set[str]:
    """Every LAOYOU_* variable some settings class reads: Settings by prefix, PaySettings by prefix or alias."""
    names = {f"LAOYOU_{name.upper()}" for name in Settings.model_fields}
    for name, field in PaySettings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"LAOYOU_PAY_{name.upper()}")
    return names


def variables_set() -> dict[str, str]:
    """The LAOYOU_* variables the Dockerfile and compose give, and the secret files they mount under
    /run/secrets (LAOYOU_SECRETS_DIR reads each as the setting it is named after), with where each is set."""
    found: dict[str, str] = {}
    dockerfile = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    for line in re.findall(r"^ENV (.+)$", dockerfile, flags=re.M):
        for name in re.findall(r"(LAOYOU_\w+)=", line):
            found[name] = "Dockerfile ENV"
    for service_name, service in compose()["services"].items():
        for name in service.get("environment") or {}:
            if name.startswith("LAOYOU_"):
                found[name] = f"{service_name} environment"
        for secret in service.get("secrets") or []:
            target = secret.get("target", "") if isinstance(secret, dict) else secret
            if target.upper().startswith("LAOYOU_"):
                found[target.upper()] = f"{service_name} secret"
    return found


def test_every_laoyou_variable_the_images_and_compose_set_is_a_real_setting():
    found = variables_set()
    assert {"LAOYOU_MODE", "LAOYOU_SECRET_KEY", "LAOYOU_TURN_SECRET", "LAOYOU_SECRETS_DIR"} <= set(found)
    unknown = {name: where for name, where in found.items() if name not in real_settings()}
    assert unknown == {}, unknown


def test_the_check_catches_a_variable_that_is_no_setting():
    assert "LAOYOU_DATABASE_URI" not in real_settings()  # a likely misspelling
    assert {"LAOYOU_DATABASE_URL", "LAOYOU_WECHAT_MP_APPID", "LAOYOU_PAY_DEFAULT_METHOD"} & real_settings()


def test_compose_runs_two_apps_a_worker_and_every_service_with_health_checks_and_limits():
    services = compose()["services"]
    assert set(services) >= {"proxy", "app", "worker", "db", "minio", "turn", "mosquitto"}
    app, worker, db = services["app"], services["worker"], services["db"]
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert app["deploy"]["replicas"] == 2
    assert "ports" not in app  # reached through the proxy only
    assert "readyz" in " ".join(app["healthcheck"]["test"])
    assert "laoyou-worker-alive" in " ".join(worker["healthcheck"]["test"])
    assert worker["command"] == ["laoyou", "worker"] and worker["image"] == app["image"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    for needs in (app, worker):
        assert needs["depends_on"]["db"]["condition"] == "service_healthy"
        assert needs["environment"]["LAOYOU_MODE"] == "production"
        assert needs["environment"]["LAOYOU_PUBSUB"] == "postgres"
        assert needs["environment"]["LAOYOU_WORKER"] == "external"  # the worker service runs the jobs
        assert needs["environment"]["LAOYOU_MEDIA_STORAGE"] == "s3"
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    for name, service in services.items():
        # Every long-running service is checked, and bounded in memory, CPU and log size.
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
        assert service["logging"]["options"]["max-size"] and service["logging"]["options"]["max-file"], name
    # The sensors' broker reads the logins the app writes, and is off unless its profile is asked for.
    mosquitto = services["mosquitto"]
    assert "mqtt:/mosquitto/auth:ro" in mosquitto["volumes"] and mosquitto["profiles"] == ["sensors"]


def test_secrets_come_from_files_never_from_the_environment():
    document = compose()
    secrets = document["secrets"]
    assert all(set(secret) == {"file"} for secret in secrets.values())
    services = document["services"]
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            assert not re.search(r"SECRET_KEY$|PASSWORD$|TOKEN$|_SECRET$", variable), (name, variable)
            # nor passed through from the shell: ${POSTGRES_PASSWORD} would land in `docker inspect`
            assert not re.search(r"\$\{\w*(PASSWORD|SECRET|TOKEN|KEY)", str(value)), (name, variable)
        for secret in service.get("secrets") or []:
            source = secret["source"] if isinstance(secret, dict) else secret
            assert source in secrets, (name, source)
    app = services["app"]
    assert app["environment"]["LAOYOU_SECRETS_DIR"] == "/run/secrets"
    given = {secret["target"] for secret in app["secrets"]}
    assert {
        "LAOYOU_SECRET_KEY",
        "LAOYOU_DATABASE_URL",
        "LAOYOU_TURN_SECRET",
        "LAOYOU_VAPID_PRIVATE_KEY",
    } <= given
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD_FILE"] == "minio_password"
    # and nothing the operator writes there goes into git or the image
    assert "docker/secrets/" in (ROOT / ".gitignore").read_text()
    assert "docker/secrets" in (ROOT / ".dockerignore").read_text().splitlines()


def test_the_proxy_terminates_tls_upgrades_graphql_websockets_and_lets_a_video_through():
    services = compose()["services"]
    proxy = services["proxy"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    conf = (DOCKER / "nginx.conf").read_text()
    assert "listen 443 ssl" in conf and "ssl_certificate " in conf and "return 301 https://" in conf
    graphql = re.search(r"location /graphql \{(.*?)\}", conf, flags=re.S).group(1)
    assert "proxy_set_header Upgrade $http_upgrade" in graphql
    assert "proxy_set_header Connection $connection_upgrade" in graphql
    # nginx gives a location that sets a proxy header none of the server's: the client's address too
    for header in ("Host $host", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in graphql, header
    size = re.search(r"client_max_body_size (\d+)m;", conf).group(1)
    assert int(size) * 1024 * 1024 > MAX_VIDEO_BYTES
    assert 'Strict-Transport-Security "max-age=' in conf
    assert "X-Content-Type-Options" in conf and "proxy_set_header X-Request-ID $request_id" in conf
    assert "location = /metrics" in conf  # never served to the internet
    assert "location = /proxy-healthz" in conf and "proxy-healthz" in " ".join(proxy["healthcheck"]["test"])


def test_the_turn_server_has_an_external_ip_tls_a_relay_range_and_refuses_private_peers():
    turn = compose()["services"]["turn"]
    command = " ".join(turn["command"])
    assert "--external-ip=" in command and "TURN_EXTERNAL_IP" in turn["environment"]
    assert "static-auth-secret" in command and "/run/secrets/turn_secret" in command
    assert "./turnserver.conf:/etc/coturn/turnserver.conf:ro" in turn["volumes"]
    conf = dict(
        line.split("=", 1) if "=" in line else (line, "")
        for line in (DOCKER / "turnserver.conf").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith("denied-peer-ip")
    )
    assert "use-auth-secret" in conf and "lt-cred-mech" not in conf
    assert conf["tls-listening-port"] == "5349" and conf["cert"] and conf["pkey"]
    assert int(conf["max-port"]) - int(conf["min-port"]) + 1 >= 5000
    denied = re.findall(r"^denied-peer-ip=(\S+)$", (DOCKER / "turnserver.conf").read_text(), flags=re.M)
    for private in (
        "10.0.0.0",
        "172.16.0.0",
        "192.168.0.0",
        "127.0.0.0",
        "169.254.0.0",
        "100.64.0.0",
        "fc00::",
    ):
        assert any(block.startswith(private) for block in denied), private


def test_dockerfile_pins_its_base_by_digest_installs_with_constraints_and_copies_what_the_app_reads():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}$", dockerfile, flags=re.M)
    assert "pip install -c constraints.txt" in dockerfile
    for paths in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for path in paths.split():
            assert (ROOT / path).exists(), path
    assert "laoyou" in dockerfile and "/healthz" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".git", "tests"} <= set(ignored)
    assert not {"backend", "pwa", "constraints.txt", "pyproject.toml"} & set(ignored)


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`LAOYOU_{name.upper()}`" in readme, name
