"""One Settings object, read from LAOYOU_* variables; production refuses a default or short secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from laoyou.core import settings as settings_module
from laoyou.core.settings import DEFAULT_SECRET, Mode, Settings

PRIVATE = "a-private-secret-key-of-more-than-32-characters"
GATEWAY = "https://sms.example.cn/send"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):  # noqa: ANN001, ANN201
    """No LAOYOU_* variable of the machine running the tests leaks into these."""
    import os

    for name in list(os.environ):
        if name.startswith("LAOYOU_"):
            monkeypatch.delenv(name)
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


def test_defaults_give_the_embedded_mode():
    settings = Settings()
    assert settings.mode is Mode.dev
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("laoyou.sqlite3")
    assert (settings.max_query_depth, settings.max_aliases, settings.max_tokens, settings.max_page_size) == (
        10,
        30,
        2000,
        100,
    )
    assert (settings.resident_session_days, settings.staff_session_hours) == (180, 12)
    assert (
        settings.login_code_minutes,
        settings.login_code_attempts,
        settings.login_codes_per_phone_hour,
    ) == (5, 5, 5)


def test_production_with_the_default_secret_is_refused():
    with pytest.raises(ValidationError, match="LAOYOU_SECRET_KEY"):
        Settings(mode="production")
    with pytest.raises(ValidationError, match="LAOYOU_SECRET_KEY"):
        Settings(mode="production", secret_key=DEFAULT_SECRET)


def test_production_with_a_short_secret_is_refused():
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(mode="production", secret_key="short-but-private")


def test_production_with_a_private_secret_is_accepted():
    settings = Settings(
        mode="production",
        secret_key=PRIVATE,
        sms_backend="http",
        sms_gateway_url=GATEWAY,
        voice_backend="none",
    )
    assert settings.is_production and not settings.is_demo


def test_production_refuses_the_console_sms_sender_and_a_gateway_without_address():
    # The console sender writes login codes to the log, where anyone reading it could log in as anyone
    with pytest.raises(ValidationError, match="LAOYOU_SMS_BACKEND must be http"):
        Settings(mode="production", secret_key=PRIVATE)
    with pytest.raises(ValidationError, match="LAOYOU_SMS_GATEWAY_URL"):
        Settings(mode="production", secret_key=PRIVATE, sms_backend="http")


@pytest.mark.parametrize("backend", ["aliyun", "tencent"])
def test_production_accepts_a_cloud_sms_provider(backend):
    # (what each provider needs is checked where the sender is made: accounts.sms.sms_settings_problem)
    settings = Settings(mode="production", secret_key=PRIVATE, sms_backend=backend, voice_backend="none")
    assert settings.sms_backend == backend


@pytest.mark.parametrize("mode", ["demo", "dev"])
def test_demo_and_dev_may_keep_the_default_secret(mode):
    assert Settings(mode=mode).secret_key == DEFAULT_SECRET


def test_laoyou_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("LAOYOU_MODE", "production")
    monkeypatch.setenv("LAOYOU_SECRET_KEY", PRIVATE)
    monkeypatch.setenv("LAOYOU_SMS_BACKEND", "http")
    monkeypatch.setenv("LAOYOU_SMS_GATEWAY_URL", GATEWAY)
    monkeypatch.setenv("LAOYOU_VOICE_BACKEND", "none")
    monkeypatch.setenv("LAOYOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAOYOU_DATABASE_URL", "postgresql+asyncpg://laoyou@db/laoyou")
    monkeypatch.setenv("LAOYOU_MAX_PAGE_SIZE", "50")
    monkeypatch.setenv("LAOYOU_PERSISTED_ONLY", "true")
    monkeypatch.setenv("LAOYOU_COOKIE_SECURE", "1")
    monkeypatch.setenv("LAOYOU_LOGIN_CODES_PER_IP_HOUR", "7")
    settings = settings_module.get_settings()
    assert settings.mode is Mode.production
    assert settings.secret_key == PRIVATE
    assert settings.data_dir == Path(tmp_path)
    assert settings.effective_database_url == "postgresql+asyncpg://laoyou@db/laoyou"
    assert settings.max_page_size == 50
    assert settings.persisted_only is True and settings.cookie_secure is True
    assert settings.login_codes_per_ip_hour == 7


def test_production_from_the_environment_without_a_secret_is_refused(monkeypatch):
    monkeypatch.setenv("LAOYOU_MODE", "production")
    with pytest.raises(ValidationError, match="LAOYOU_SECRET_KEY"):
        settings_module.get_settings()


def test_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("LAOYOU_MODE", "staging")
    with pytest.raises(ValidationError):
        Settings()


def test_variables_of_other_programs_are_ignored(monkeypatch):
    monkeypatch.setenv("MAX_PAGE_SIZE", "3")
    monkeypatch.setenv("SECRET_KEY", "x")
    settings = Settings()
    assert settings.max_page_size == 100 and settings.secret_key == DEFAULT_SECRET
