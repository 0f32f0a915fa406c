"""The operator's first hour, in a browser, from an empty production database.

`laoyou create-admin` makes the administrator; `laoyou serve` runs production mode as the README says (over https
at laoyou.test, a name the browser resolves to this machine, with a certificate made here), with the SMS gateway a local peer speaking the HTTP adapter's protocol. Then, at a phone's size and only through pages:
the admin creates a district and a community, imports a 200-row .xlsx, grants a steward; the steward sets a
password from the link, logs in and adds a resident; the resident logs in by SMS code and sees their home and
bills.
"""

from __future__ import annotations

import io
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ..conftest import make_database_url
from ..support.servers import free_port
from ..test_production import ADMIN_PASSWORD, ADMIN_PHONE, production_env
from .helpers import CHROMIUM, CHROMIUM_ARGS, login_staff, shot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STEWARD_PHONE = "13700000011"
STEWARD_PASSWORD = "steward-password-2026"
RESIDENT_PHONE = "13700000123"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOST = "laoyou.test"  # production refuses localhost as its public address


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium that finds HOST at this machine."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        )
        yield chromium
        chromium.close()


@dataclass
class SmsGateway:
    """The SMS gateway's side of the HTTP adapter (docs/operations.md): it keeps what it was asked to send."""

    token: str
    received: list[dict] = field(default_factory=list)

    def code_for(self, phone: str) -> str:
        for body in reversed(self.received):
            if phone in json.dumps(body, ensure_ascii=False):
                found = re.findall(r"(?<!\d)\d{6}(?!\d)", " ".join(_strings(body)))
                if found:
                    return found[-1]
        raise AssertionError(f"no code was sent to {phone}: {self.received}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("phone", "phones", "PhoneNumbers"):
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[SmsGateway, str]]:
    sms = SmsGateway(token="gateway-token-0123456789")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ok = self.headers.get("Authorization") == f"Bearer {sms.token}"
            if ok:
                sms.received.append(body)
            answer = json.dumps({"ok": ok} if ok else {"ok": False, "error": "bad token"}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sms, f"http://127.0.0.1:{server.server_address[1]}/send"
    server.shutdown()
    server.server_close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for HOST, as an operator's proxy would hold a real one."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, private


@pytest.fixture(scope="module")
def production_site(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, gateway: Any
) -> Iterator[str]:
    sms, sms_url = gateway
    tmp = tmp_path_factory.mktemp("onboarding")
    port = free_port()
    url = f"https://{HOST}:{port}"
    cert, key = self_signed(tmp)
    env = production_env(
        tmp,
        make_database_url(backend, tmp, request),  # PostgreSQL, as the README runs production, and SQLite
        LAOYOU_PUBLIC_URL=url,
        LAOYOU_SMS_GATEWAY_URL=sms_url,
        LAOYOU_SMS_GATEWAY_TOKEN=sms.token,
        LAOYOU_LOG_LEVEL="warning",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAOYOU_")} | {"COLUMNS": "500"}
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "laoyou.cli",
            "create-admin",
            "--phone",
            ADMIN_PHONE,
            "--name",
            "管理员",
            "--password",
            ADMIN_PASSWORD,
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    log = open(tmp / "server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "laoyou.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        cwd=ROOT,
        env={**clean, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    trust = ssl.create_default_context(cafile=cert)
    trust.check_hostname = False  # asked at 127.0.0.1; the certificate names HOST
    deadline = time.monotonic() + 90
    while True:
        try:
            if (
                httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=2, verify=trust).json().get("mode")
                == "production"
            ):
                break
        except (httpx.HTTPError, ValueError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("production did not start: " + (tmp / "server.log").read_text())
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
    assert "Traceback" not in (tmp / "server.log").read_text()


@pytest.fixture
def site(production_site: str) -> dict[str, Any]:
    return {"base_url": production_site, "locale": "zh-CN", "ignore_https_errors": True}


def import_workbook(rows: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["楼栋", "单元号", "楼层", "面积", "户主", "电话", "业主/租户"])
    for n in range(rows):
        building = f"{n // 50 + 1}号楼"
        floor = n % 50 // 4 + 1
        sheet.append([building, f"{floor}0{n % 4 + 1}", floor, "68.40", f"住户{n}", "", "业主"])
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def test_an_operator_starts_from_an_empty_production_database(new_context: Any, gateway: Any) -> None:
    sms, _ = gateway
    # The admin made by `laoyou create-admin`: a district, its first community, 200 units from a spreadsheet.
    admin = new_context().new_page()
    login_staff(admin, ADMIN_PHONE, ADMIN_PASSWORD)
    admin.locator('a[href="/staff/estates"]').click()
    admin.locator("section[aria-labelledby=add-district-title] summary").click()
    admin.fill("#d-name", "青秀片区")
    admin.fill("#d-city", "南宁")
    admin.fill("#d-operator", "老友物业")
    admin.fill("#d-phone", "13977100000")
    admin.locator('form[action="/staff/estates/districts"] button[type=submit]').click()
    admin.wait_for_url(re.compile(r"/staff/estates/districts/[^/?]+\?created=1(#add-community)?$"))
    admin.fill("#c-name", "民主路小区")
    admin.fill("#c-address", "南宁市青秀区民主路1号")
    admin.fill("#c-phone", "13977100001")
    admin.locator("#add-community button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/staff/estates/communities/[^/]+$"))
    expect(admin.locator("h1")).to_contain_text("民主路小区")
    admin.locator('a[href$="/import"]').click()
    admin.set_input_files(
        "#import-file",
        files=[{"name": "民主路小区.xlsx", "mimeType": XLSX, "buffer": import_workbook(200)}],
    )
    admin.locator('form[enctype="multipart/form-data"] button[type=submit]').click()
    confirm = admin.locator('form[action$="/confirm"] button[type=submit]')
    expect(confirm).to_contain_text("200")
    shot(admin, "onboarding-import-preview")
    confirm.click()
    expect(admin.locator("main")).to_contain_text("200")
    shot(admin, "onboarding-import-result")

    # The admin gives a steward the community and hands over a password link.
    admin.goto("/")
    admin.locator('a[href="/staff/people"]').click()
    admin.fill("#phone", STEWARD_PHONE)
    admin.fill("#name", "黄管家")
    admin.select_option("#role", "steward")
    admin.select_option("#scope", label="青秀片区 · 民主路小区")
    admin.locator('form[action="/staff/people"] button[type=submit]').click()
    admin.wait_for_url(re.compile(r"/staff/people/[^/]+$"))
    admin.locator('form[action$="/password"] button[type=submit]').click()
    setup_link = admin.locator("input[readonly]").input_value()
    assert setup_link.startswith(f"https://{HOST}:"), setup_link

    # The steward sets a password, logs in, and adds a resident to the first imported home.
    steward = new_context().new_page()
    steward.goto(setup_link)
    steward.fill("#password", STEWARD_PASSWORD)
    steward.locator('form[action="/password/set"] button[type=submit]').click()
    steward.locator('a[href="/login"]').first.click()
    login_staff(steward, STEWARD_PHONE, STEWARD_PASSWORD)
    steward.get_by_role("link", name="民主路小区").first.click()
    steward.wait_for_url(re.compile(r"/staff/communities/[^/]+/households"))
    address = steward.locator("table tbody tr th").first.inner_text().strip()
    steward.locator('a[href$="/residents"]').first.click()
    steward.fill("#r-name", "李桂兰")
    steward.fill("#r-phone", RESIDENT_PHONE)
    steward.locator('form[action$="/residents"] button[type=submit]').click()
    expect(steward.locator("main")).to_contain_text("李桂兰")
    shot(steward, "onboarding-resident-added")

    # The resident logs in by the code texted to her and lands in her home, then sees her bills.
    resident = new_context().new_page()
    resident.goto("/login")
    resident.fill("#phone", RESIDENT_PHONE)
    resident.locator('form[action="/login/code"] button[type=submit]').click()
    resident.fill("#code", sms.code_for(RESIDENT_PHONE))
    resident.locator('form[action="/login/verify"] button[type=submit]').click()
    resident.wait_for_url(re.compile(r"/$"))
    expect(resident.locator("main")).to_contain_text(address.split()[-1])
    shot(resident, "onboarding-resident-home")
    resident.locator('a[href="/bills"]').first.click()  # 交费, on the first screen
    resident.wait_for_url(re.compile(r"/bills$"))
    expect(resident.locator("h1")).to_be_visible()
    shot(resident, "onboarding-resident-bills")
