"""Secrets from files (Docker secrets): LAOYOU_SECRETS_DIR names a directory of files named like the variables."""

from __future__ import annotations

import os

import pytest

from laoyou.core.settings import Settings

PRIVATE = "a-private-secret-key-of-more-than-32-characters"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):  # noqa: ANN001
    """No LAOYOU_* variable of the machine running the tests leaks into these."""
    for name in list(os.environ):
        if name.startswith("LAOYOU_"):
            monkeypatch.delenv(name)


def test_settings_not_in_the_environment_are_read_from_the_secrets_directory(tmp_path, monkeypatch):
    # Given Docker-style secret files (a trailing newline, as `echo` writes them), in either case
    (tmp_path / "laoyou_secret_key").write_text(PRIVATE + "\n")
    (tmp_path / "LAOYOU_TURN_SECRET").write_text("coturn-shared-secret\n")
    (tmp_path / "laoyou_database_url").write_text("postgresql+asyncpg://laoyou:from-file@db/laoyou")
    monkeypatch.setenv("LAOYOU_SECRETS_DIR", str(tmp_path))
    # and one setting also given in the environment
    monkeypatch.setenv("LAOYOU_DATABASE_URL", "postgresql+asyncpg://laoyou:from-env@db/laoyou")
    # When the settings are read in production
    monkeypatch.setenv("LAOYOU_MODE", "production")
    monkeypatch.setenv("LAOYOU_SMS_BACKEND", "http")
    monkeypatch.setenv("LAOYOU_SMS_GATEWAY_URL", "https://sms.example.cn/send")
    monkeypatch.setenv("LAOYOU_VOICE_BACKEND", "none")
    settings = Settings()
    # Then the files give what the environment does not, without their newline, and the environment wins
    assert settings.secret_key == PRIVATE
    assert settings.turn_secret == "coturn-shared-secret"
    assert settings.database_url.endswith(":from-env@db/laoyou")
    assert settings.secrets_dir == tmp_path


def test_without_a_secrets_directory_nothing_is_read_from_files(tmp_path, monkeypatch):
    (tmp_path / "laoyou_turn_secret").write_text("unused")
    monkeypatch.chdir(tmp_path)
    assert Settings().turn_secret == ""


def test_a_secrets_directory_that_is_not_there_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAOYOU_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="LAOYOU_SECRETS_DIR"):
        Settings()


def test_payment_keys_are_read_from_the_secrets_directory_too(tmp_path, monkeypatch):
    from laoyou.billing.gateways.registry import PaySettings

    (tmp_path / "LAOYOU_PAY_WECHAT_APIV3_KEY").write_text("0123456789abcdef0123456789abcdef\n")
    (tmp_path / "LAOYOU_WECHAT_MP_SECRET").write_text("official-account-secret\n")  # named by its alias
    monkeypatch.setenv("LAOYOU_SECRETS_DIR", str(tmp_path))
    pay = PaySettings()
    assert pay.wechat_apiv3_key == "0123456789abcdef0123456789abcdef"
    assert pay.wechat_mp_secret == "official-account-secret"
