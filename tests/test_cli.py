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
import pytest

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


# --- check-config ------------------------------------------------------------------------------------------

SECRET = "s3cret-" + "x" * 40
READY = {
    "LAOYOU_MODE": "production",
    "LAOYOU_SECRET_KEY": SECRET,
    "LAOYOU_PUBLIC_URL": "https://laoyou.example.cn",
    "LAOYOU_SMS_BACKEND": "http",
    "LAOYOU_SMS_GATEWAY_URL": "https://sms.example.cn/send",
    "LAOYOU_SMS_GATEWAY_TOKEN": "token",
    "LAOYOU_VOICE_BACKEND": "none",
    "LAOYOU_ICE_SERVERS": '[{"urls": "turn:turn.example.cn:3478", "username": "u", "credential": "p"}]',
}


def only(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """Exactly these LAOYOU_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAOYOU_")}
    return {**clean, "LAOYOU_DATA_DIR": str(data_dir), **env}


def check_config(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "laoyou.cli", "check-config"],
        capture_output=True,
        text=True,
        env=only(env, data_dir),
        timeout=120,
        cwd=ROOT,
    )


def test_check_config_prints_what_production_will_use(tmp_path):
    checked = check_config(READY, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = checked.stdout
    for shown in (
        "https://laoyou.example.cn",
        "http to https://sms.example.cn/send, with a token",
        "payments: wechat           not configured",
        "none online: residents pay at the office",
        f"made on first start in {tmp_path}/vapid/private_key.pem",
        "turn:turn.example.cn:3478",
        "Secure cookies             on",
        "persisted operations only  on",
        "trusted proxies            127.0.0.1",
        "production has what it requires",
    ):
        assert shown in out, (shown, out)
    assert SECRET not in out and "MISSING" not in out and "Traceback" not in checked.stderr


def test_check_config_lists_everything_missing_and_fails(tmp_path):
    env = {"LAOYOU_MODE": "production", "LAOYOU_ICE_SERVERS": "turn:not-json"}
    checked = check_config(env, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    missing = [line for line in checked.stdout.splitlines() if line.startswith("MISSING: ")]
    assert [line.split()[1] for line in missing] == [
        "LAOYOU_SECRET_KEY",
        "LAOYOU_PUBLIC_URL",
        "LAOYOU_SMS_BACKEND",
        "LAOYOU_ICE_SERVERS",
    ], missing
    assert "4 required setting(s) missing" in checked.stdout and "Traceback" not in checked.stderr


def test_check_config_names_a_payment_key_file_that_is_not_there(tmp_path):
    (tmp_path / "merchant.pem").write_text("key")
    env = READY | {
        "LAOYOU_PAY_WECHAT_MCHID": "1900000001",
        "LAOYOU_PAY_WECHAT_PRIVATE_KEY_FILE": str(tmp_path / "merchant.pem"),
        "LAOYOU_PAY_WECHAT_PLATFORM_KEY_FILE": str(tmp_path / "no-such.pem"),
        "LAOYOU_PAY_PUBLIC_URL": "https://laoyou.example.cn",
    }
    checked = check_config(env, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "payments: wechat           configured" in checked.stdout
    assert "MISSING: LAOYOU_PAY_WECHAT_PLATFORM_KEY_FILE: no such file" in checked.stdout
    assert "payments: notify URL       https://laoyou.example.cn" in checked.stdout


def test_check_config_shows_where_wechat_pay_is_reached_and_its_keys(tmp_path):
    for name in ("merchant.pem", "pub.pem"):
        (tmp_path / name).write_text("key")
    env = READY | {
        "LAOYOU_PAY_WECHAT_MCHID": "1900000001",
        "LAOYOU_PAY_WECHAT_PRIVATE_KEY_FILE": str(tmp_path / "merchant.pem"),
        "LAOYOU_PAY_WECHAT_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000000",
        "LAOYOU_PAY_WECHAT_PUBLIC_KEY_FILE": str(tmp_path / "pub.pem"),
        "LAOYOU_PAY_WECHAT_APIV3_KEY": "k" * 32,
        "LAOYOU_PAY_WECHAT_BASE_URL": "https://api2.mch.weixin.qq.com",
        "LAOYOU_PAY_PROXY": "http://proxy.example.cn:3128",
        "LAOYOU_PAY_PUBLIC_URL": "https://laoyou.example.cn",
    }
    checked = check_config(env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for shown in (
        "payments: wechat URL       https://api2.mch.weixin.qq.com",
        "payments: wechat keys      public key PUB_KEY_ID_0114232134912410000000000000000, "
        f"certificates downloaded to {tmp_path}/wechatpay/platform-certificates.json",
        "payments: proxy            http://proxy.example.cn:3128",
    ):
        assert shown in checked.stdout, (shown, checked.stdout)
    # A short APIv3 key, or an address that is not https, is named before production starts
    wrong = {
        "LAOYOU_PAY_WECHAT_APIV3_KEY": "short",
        "LAOYOU_PAY_WECHAT_BASE_URL": "http://api.mch.weixin.qq.com",
    }
    checked = check_config(env | wrong, tmp_path)
    assert checked.returncode == 1
    assert "MISSING: LAOYOU_PAY_WECHAT_APIV3_KEY" in checked.stdout
    assert "MISSING: LAOYOU_PAY_WECHAT_BASE_URL must be https://" in checked.stdout


def test_check_config_requires_the_alipay_seller_id(tmp_path):
    for name in ("app.pem", "alipay.pem"):
        (tmp_path / name).write_text("key")
    alipay = READY | {
        "LAOYOU_PAY_ALIPAY_APP_ID": "2014072300007148",
        "LAOYOU_PAY_ALIPAY_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
        "LAOYOU_PAY_ALIPAY_PUBLIC_KEY_FILE": str(tmp_path / "alipay.pem"),
        "LAOYOU_PAY_PUBLIC_URL": "https://laoyou.example.cn",
    }
    checked = check_config(alipay, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "payments: alipay           not configured" in checked.stdout
    assert "MISSING: LAOYOU_PAY_ALIPAY_SELLER_ID is required" in checked.stdout
    checked = check_config(alipay | {"LAOYOU_PAY_ALIPAY_SELLER_ID": "2088101122136241"}, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "payments: alipay           configured" in checked.stdout
    assert "payments: alipay seller    2088101122136241" in checked.stdout


def test_check_config_outside_production_only_reports(tmp_path):
    checked = check_config({"LAOYOU_MODE": "dev"}, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "dev mode: production's requirements are not checked" in checked.stdout


def test_serve_checks_the_config_and_refuses_in_one_line(tmp_path):
    env = READY | {"LAOYOU_PUBLIC_URL": "http://localhost:8000"}
    process = subprocess.run(
        [sys.executable, "-m", "laoyou.cli", "serve", "--port", "9"],
        capture_output=True,
        text=True,
        env=only(env, tmp_path) | {"COLUMNS": "500"},
        timeout=120,
        cwd=ROOT,
    )
    assert process.returncode == 2, process.stdout + process.stderr
    said = process.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("Settings refused: LAOYOU_PUBLIC_URL must be"), said
    assert "laoyou check-config" in said[0] and not (tmp_path / "laoyou.sqlite3").exists()


ALIYUN = READY | {
    "LAOYOU_SMS_BACKEND": "aliyun",
    "LAOYOU_SMS_ALIYUN_ACCESS_KEY_ID": "LTAI5tExampleKeyId",
    "LAOYOU_SMS_ALIYUN_ACCESS_KEY_SECRET": "the-aliyun-secret",
    "LAOYOU_SMS_TEMPLATE_LOGIN_CODE": "SMS_100000001",
    "LAOYOU_SMS_TEMPLATE_PASSWORD_CODE": "SMS_100000002",
}


def test_check_config_shows_a_cloud_sms_provider_and_never_its_secret(tmp_path):
    checked = check_config(ALIYUN, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        "aliyun at https://dysmsapi.aliyuncs.com/, sign 老友管家, "
        "templates: login_code SMS_100000001, password_code SMS_100000002"
    ) in checked.stdout
    assert "the-aliyun-secret" not in checked.stdout and "production has what it requires" in checked.stdout


def test_check_config_names_what_the_sms_provider_lacks(tmp_path):
    env = READY | {
        "LAOYOU_SMS_BACKEND": "tencent",
        "LAOYOU_SMS_TENCENT_SECRET_ID": "AKIDexample",
        "LAOYOU_SMS_TEMPLATE_LOGIN_CODE": "2000001",
    }
    checked = check_config(env, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert (
        "MISSING: LAOYOU_SMS_BACKEND=tencent needs LAOYOU_SMS_TENCENT_SECRET_KEY, LAOYOU_SMS_TENCENT_APP_ID, "
        "LAOYOU_SMS_TEMPLATE_PASSWORD_CODE"
    ) in checked.stdout


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"LAOYOU_SMS_BACKEND": "aliyun", "LAOYOU_SMS_TEMPLATE_LOGIN_CODE": "SMS_1"},
            "Settings refused: LAOYOU_SMS_BACKEND=aliyun needs LAOYOU_SMS_ALIYUN_ACCESS_KEY_ID, "
            "LAOYOU_SMS_ALIYUN_ACCESS_KEY_SECRET, LAOYOU_SMS_TEMPLATE_PASSWORD_CODE",
        ),
        (
            {"LAOYOU_SMS_BACKEND": "carrier-pigeon"},
            "Settings refused: LAOYOU_SMS_BACKEND must be ",  # one of the four; in production, one that sends
        ),
        (
            ALIYUN | {"LAOYOU_SMS_TEMPLATE_LOGIN_CODE": "123456"},
            "Settings refused: LAOYOU_SMS_TEMPLATE_LOGIN_CODE: Alibaba Cloud SMS template codes look like",
        ),
    ],
)
@pytest.mark.parametrize("mode", ["dev", "production"])
def test_a_misconfigured_sms_backend_stops_serve_in_one_line(tmp_path, env, said, mode):
    process = subprocess.run(
        [sys.executable, "-m", "laoyou.cli", "serve", "--port", "9"],
        capture_output=True,
        text=True,
        env=only(READY | env | {"LAOYOU_MODE": mode}, tmp_path) | {"COLUMNS": "500"},
        timeout=120,
        cwd=ROOT,
    )
    assert process.returncode == 2, process.stdout + process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), lines


def test_import_estates_refuses_errors_then_imports_once(tmp_path):
    assert laoyou("migrate", data_dir=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        db.execute(
            "INSERT INTO district (name, city, operator_name, operator_phone, contract_model, created_at)"
            " VALUES ('秀山片区', '上海', '老友', '+8613900000000', 'joint_tender', '2026-01-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO community (district_id, name, address, on_duty_phone, created_at)"
            " VALUES (1, '秀山小区', '秀山路1号', '+8613900000001', '2026-01-01 00:00:00')"
        )
    sheet = tmp_path / "units.csv"
    sheet.write_bytes(
        "楼栋,单元号,楼层,面积,户主,电话\n1号楼,101,1,75.5,王秀英,13912340001\n1号楼,102,1,7x,,\n".encode(
            "gb18030"
        )
    )
    refused = laoyou("import-estates", str(sheet), "--community", "1", data_dir=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert "row 3, cell D3 面积" in refused.stdout and "error: 1" in refused.stdout
    sheet.write_bytes(
        "楼栋,单元号,楼层,面积,户主,电话\n1号楼,101,1,75.5,王秀英,13912340001\n".encode("gb18030")
    )
    dry = laoyou("import-estates", str(sheet), "--community", "1", "--dry-run", data_dir=tmp_path)
    assert "new: 1" in dry.stdout and "nothing was written" in dry.stdout
    done = laoyou("import-estates", str(sheet), "--community", "1", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    again = laoyou("import-estates", str(sheet), "--community", "1", data_dir=tmp_path)
    assert "unchanged: 1" in again.stdout and "written: 0" in again.stdout
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        assert db.execute("SELECT number, floor_area_centi_m2 FROM unit").fetchall() == [("101", 7550)]
        assert db.execute("SELECT count(*) FROM role_grant WHERE role = 'resident'").fetchone()[0] == 1
    elsewhere = laoyou("import-estates", str(sheet), "--community", "9", data_dir=tmp_path)
    assert elsewhere.returncode == 2


def test_serve_takes_a_certificate_only_with_its_key(tmp_path):
    (tmp_path / "cert.pem").write_text("not used")
    refused = laoyou("serve", "--port", "9", "--tls-cert", str(tmp_path / "cert.pem"), data_dir=tmp_path)
    assert refused.returncode == 2 and "--tls-cert and --tls-key go together" in refused.stderr, (
        refused.stderr
    )
    assert not (tmp_path / "laoyou.sqlite3").exists()


def test_check_config_names_the_official_account_for_paying_inside_wechat(tmp_path):
    for name in ("merchant.pem", "platform.pem"):
        (tmp_path / name).write_text("key")
    wechat = READY | {
        "LAOYOU_PAY_WECHAT_MCHID": "1900000001",
        "LAOYOU_PAY_WECHAT_APPID": "wxd678efh567hg6787",
        "LAOYOU_PAY_WECHAT_PRIVATE_KEY_FILE": str(tmp_path / "merchant.pem"),
        "LAOYOU_PAY_WECHAT_PLATFORM_KEY_FILE": str(tmp_path / "platform.pem"),
        "LAOYOU_PAY_PUBLIC_URL": "https://laoyou.example.cn",
    }
    checked = check_config(wechat, tmp_path)
    assert "payments: in WeChat" in checked.stdout and "cannot pay" in checked.stdout
    checked = check_config(wechat | {"LAOYOU_WECHAT_MP_APPID": "wxd678efh567hg6787"}, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "MISSING: LAOYOU_WECHAT_MP_APPID and LAOYOU_WECHAT_MP_SECRET go together" in checked.stdout
    mismatched = wechat | {"LAOYOU_WECHAT_MP_APPID": "wxother", "LAOYOU_WECHAT_MP_SECRET": "s"}
    checked = check_config(mismatched, tmp_path)
    assert "MISSING: LAOYOU_WECHAT_MP_APPID must be LAOYOU_PAY_WECHAT_APPID" in checked.stdout
    checked = check_config(
        wechat | {"LAOYOU_WECHAT_MP_APPID": "wxd678efh567hg6787", "LAOYOU_WECHAT_MP_SECRET": "s"}, tmp_path
    )
    assert "JSAPI, official account wxd678efh567hg6787" in checked.stdout
