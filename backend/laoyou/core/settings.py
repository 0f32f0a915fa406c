"""One Settings object for the whole app, read from LAOYOU_* environment variables."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

DEFAULT_SECRET = "change-me-laoyou-default-secret"
REPO_ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_DEFAULTS = ("cookie_secure", "persisted_only")  # off elsewhere, on in production unless set
SMS_SENDING = ("http", "aliyun", "tencent")  # the SMS backends that reach a phone
WECHAT_NOTICE_PARTS = ("title", "body", "time")  # what a WeChat template's keyword may show of a notice


class Mode(StrEnum):
    demo = "demo"
    dev = "dev"
    production = "production"


class FromSecretsDir(BaseSettings):
    """Settings that are also read from files: LAOYOU_SECRETS_DIR names a directory of files named like the
    variables (Docker secrets), read for what the environment does not set."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Secrets from files, so they stay out of the environment that `docker inspect` and /proc show."""
        secrets_dir = os.environ.get("LAOYOU_SECRETS_DIR")
        if secrets_dir:
            if not Path(secrets_dir).is_dir():
                raise ValueError(f"LAOYOU_SECRETS_DIR: {secrets_dir} is not a directory")
            file_secret_settings = SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir)
        return init_settings, env_settings, dotenv_settings, file_secret_settings


class Settings(FromSecretsDir):
    model_config = SettingsConfigDict(env_prefix="LAOYOU_", extra="ignore")

    mode: Mode = Field(Mode.dev, description="demo, dev or production")
    data_dir: Path = Field(Path("./laoyou-data"), description="SQLite database, media and keys live here")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means SQLite in the data directory"
    )
    secret_key: str = Field(DEFAULT_SECRET, description="signs CSRF tokens; must be changed in production")
    public_url: str = Field("http://localhost:8000", description="base address printed on login cards")
    sms_backend: str = Field(
        "console",
        description="console (log the message), http (gateway adapter), aliyun or tencent (their SMS APIs)",
    )
    sms_gateway_url: str = Field("", description="the HTTP SMS gateway's endpoint")
    sms_gateway_token: str = Field("", description="bearer token for the SMS gateway")
    sms_sign_name: str = Field(
        "老友管家",
        description="the signature printed in front of each SMS (at a provider: its approved sign name)",
    )
    sms_template_login_code: str = Field(
        "", description="aliyun/tencent: the approved template of the login code, one variable: the code"
    )
    sms_template_password_code: str = Field(
        "",
        description="aliyun/tencent: the approved template of the staff password code, one variable: the code",
    )
    sms_template_notice: str = Field(
        "",
        description="aliyun/tencent: the approved template of a notice that climbed to SMS (an emergency, a bill "
        "due, an SOS answered), one variable: the notice's title (optional: without it notices skip SMS)",
    )
    sms_aliyun_access_key_id: str = Field("", description="aliyun: the AccessKey ID (a RAM user's, SMS only)")
    sms_aliyun_access_key_secret: str = Field("", description="aliyun: the AccessKey secret")
    sms_tencent_secret_id: str = Field("", description="tencent: the API SecretId (a sub-user's, SMS only)")
    sms_tencent_secret_key: str = Field("", description="tencent: the API SecretKey")
    sms_tencent_app_id: str = Field("", description="tencent: the SMS application's SmsSdkAppId (1400…)")
    sms_tencent_region: str = Field("ap-guangzhou", description="tencent: the API region")
    sms_api_url: str = Field(
        "", description="aliyun/tencent: another API address than the provider's public one"
    )
    # The official account (公众号) that carries notices in WeChat. Its app id and secret are the same
    # LAOYOU_WECHAT_MP_APPID / LAOYOU_WECHAT_MP_SECRET the payment settings read (billing's registry): one account.
    wechat_mp_appid: str = Field(
        "", description="the official account's AppID (also used for paying in WeChat)"
    )
    wechat_mp_secret: str = Field("", description="that official account's AppSecret")
    wechat_template_notice: str = Field(
        "",
        description="the approved template message (模板消息) notices are sent with; empty: no WeChat channel, "
        "even when the account is set for paying",
    )
    wechat_template_fields: str = Field(
        "thing1=title,thing2=body,time3=time",
        description="that template's keywords and what each shows (title, body or time), e.g. "
        "thing1=title,thing2=body,time3=time",
    )
    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat's API address")
    voice_backend: str = Field(
        "console",
        description="voice call notifications: none, console (log the call), aliyun or tencent (their voice "
        "APIs); production must choose none or a provider",
    )
    voice_template_emergency: str = Field(
        "",
        description="aliyun/tencent: the approved text-to-speech template of emergency notices, one variable: "
        "the title ({title} at Alibaba, {1} at Tencent)",
    )
    voice_template_important: str = Field(
        "", description="aliyun/tencent: the approved text-to-speech template of every other notice, the same"
    )
    voice_show_number: str = Field(
        "",
        description="aliyun: the bought number calls show (CalledShowNumber); empty: the public mode's pool",
    )
    voice_play_times: int = Field(
        2, ge=1, le=3, description="how many times a call reads the notice (1 to 3)"
    )
    voice_aliyun_access_key_id: str = Field(
        "", description="aliyun: the AccessKey ID (a RAM user's, voice only)"
    )
    voice_aliyun_access_key_secret: str = Field("", description="aliyun: the AccessKey secret")
    voice_tencent_secret_id: str = Field("", description="tencent: the API SecretId (a sub-user's, VMS only)")
    voice_tencent_secret_key: str = Field("", description="tencent: the API SecretKey")
    voice_tencent_app_id: str = Field(
        "", description="tencent: the voice application's VoiceSdkAppid (1400…)"
    )
    voice_tencent_region: str = Field("ap-guangzhou", description="tencent: the API region")
    voice_api_url: str = Field(
        "", description="aliyun/tencent: another voice API address than the provider's public one"
    )
    voice_callback_token: str = Field(
        "",
        description="aliyun/tencent: the secret part of the call-report URLs given to the provider "
        "(/reach/voice/<provider>/<token>), 16 characters or more",
    )
    persisted_only: bool = Field(
        False,
        description="non-staff clients may only send persisted operations (on by default in production)",
    )
    cookie_secure: bool = Field(
        False, description="mark cookies Secure (turn on behind HTTPS; on by default in production)"
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="comma-separated addresses or CIDRs of the reverse proxies whose X-Forwarded-For is believed",
    )
    resident_session_days: int = Field(180, description="lifetime of a resident's session")
    staff_session_hours: int = Field(12, description="lifetime of a staff session")
    login_code_minutes: int = Field(5, description="how long a login code stays valid")
    login_code_attempts: int = Field(5, description="wrong tries before a login code is spent")
    login_codes_per_phone_hour: int = Field(5, description="codes a phone may be sent per hour")
    login_codes_per_ip_hour: int = Field(30, description="codes one client address may ask for per hour")
    uploads_per_person_hour: int = Field(
        60, description="photos, voice notes and videos one person may upload per hour"
    )
    login_card_days: int = Field(14, description="how long a printed household login card stays valid")
    max_query_depth: int = Field(10, description="deepest GraphQL selection accepted")
    max_aliases: int = Field(30, description="most aliases in one GraphQL operation")
    max_tokens: int = Field(2000, description="most tokens in one GraphQL operation")
    max_page_size: int = Field(100, description="cap for every paginated list")
    demo_households_scale: float = Field(
        1.0, description="fraction of demo households to create (tests use less)"
    )
    log_level: str = Field("info", description="logging level")
    metrics_token: str = Field(
        "",
        description="bearer token a Prometheus scraper sends to /metrics; empty: /metrics answers only this machine (loopback)",
    )
    vapid_private_key: str = Field(
        "",
        description="web push VAPID private key (PEM or base64url); empty: made on first start and kept in the data directory",
    )
    vapid_public_key: str = Field(
        "",
        description="web push VAPID public key (base64url, uncompressed point); checked against the private key when given",
    )
    vapid_subject: str = Field(
        "", description="web push contact (mailto: or https:); empty means the public URL"
    )
    worker: str = Field(
        "embedded",
        description="embedded: this process sends push and runs jobs; external: `laoyou worker` does",
    )
    jobs_interval_scale: float = Field(
        1.0, description="multiplies every periodic job's interval; 0 turns periodic jobs off"
    )
    pubsub: str = Field(
        "inprocess",
        pattern="^(inprocess|postgres)$",
        description="inprocess (one process) or postgres (LISTEN/NOTIFY, for several app processes)",
    )
    mqtt_url: str = Field(
        "",
        description="home sensors' MQTT broker, mqtt://user:password@host:1883 (mqtts:// for TLS); empty: off",
    )
    reach_sms_monthly_cap: int = Field(
        2000,
        ge=0,
        description="SMS a community may be sent per month by notices climbing to SMS (the operator may change it per community)",
    )
    reach_voice_monthly_cap: int = Field(
        300, ge=0, description="voice calls a community may be sent per month by notices climbing to a call"
    )
    reach_sms_daily_per_person: int = Field(
        5, ge=0, description="SMS one person may be sent per day by notices"
    )
    reach_voice_daily_per_person: int = Field(
        3, ge=0, description="voice calls one person may get per day by notices"
    )
    ice_servers: str = Field(
        "[]",
        description='WebRTC STUN/TURN servers as JSON, e.g. [{"urls": "turn:turn.example.cn:3478", "username": "u", "credential": "p"}]',
    )
    # TURN with coturn's shared secret (its use-auth-secret/static-auth-secret): each caller gets a login of their
    # own that expires, instead of one static password in LAOYOU_ICE_SERVERS for everyone.
    turn_secret: str = Field("", description="coturn's static-auth-secret; empty: only LAOYOU_ICE_SERVERS")
    turn_urls: str = Field(
        "",
        description="the TURN server's addresses for those logins, comma-separated, "
        "e.g. turn:turn.example.cn:3478,turns:turn.example.cn:5349",
    )
    turn_credential_seconds: int = Field(
        21600, ge=60, le=86400, description="how long a caller's TURN login lasts (the longest call)"
    )
    secrets_dir: Path | None = Field(
        None,
        description="a directory of files named like the variables (LAOYOU_SECRET_KEY …), read for the settings "
        "not set in the environment: Docker secrets in /run/secrets",
    )

    media_storage: str = Field(
        "local",
        pattern="^(local|s3)$",
        description="where photos, voice notes and videos are kept: local (the data directory) or s3 (a bucket)",
    )
    s3_endpoint_url: str = Field(
        "", description="s3: the S3-compatible service's address (MinIO: http://minio:9000); empty: AWS S3"
    )
    s3_bucket: str = Field("", description="s3: the bucket media files go to (made beforehand)")
    s3_access_key: str = Field("", description="s3: the access key id (a user allowed only this bucket)")
    s3_secret_key: str = Field("", description="s3: the secret access key")
    s3_region: str = Field("us-east-1", description="s3: the bucket's region (MinIO accepts the default)")

    @model_validator(mode="after")
    def _refuse_demo_parts_in_production(self) -> Settings:
        if missing := self.missing_for_s3(production=self.is_production):
            raise ValueError(f"LAOYOU_MEDIA_STORAGE=s3 needs {', '.join(missing)}")
        if self.mode == Mode.production and self.secret_key == DEFAULT_SECRET:
            raise ValueError("LAOYOU_SECRET_KEY must be set to a private value in production mode")
        if self.mode == Mode.production and len(self.secret_key) < 32:
            raise ValueError("LAOYOU_SECRET_KEY must be at least 32 characters in production mode")
        # The console sender only writes login codes to the log: in production no resident would get one, and
        # whoever reads the log could log in as anyone.
        if self.mode == Mode.production and self.sms_backend not in SMS_SENDING:
            raise ValueError(
                "LAOYOU_SMS_BACKEND must be http, aliyun or tencent in production mode"
                " (console only logs login codes)"
            )
        if self.mode == Mode.production and self.sms_backend == "http" and not self.sms_gateway_url:
            raise ValueError("LAOYOU_SMS_GATEWAY_URL is required in production mode")
        # The console voice only logs the call: in production an emergency would ring no phone. Production
        # places calls through a provider, or none at all and says so.
        if self.mode == Mode.production and self.voice_backend == "console":
            raise ValueError(
                "LAOYOU_VOICE_BACKEND must be none, aliyun or tencent in production mode"
                " (console only logs the calls)"
            )
        if self.mode == Mode.production:
            self.turn_on_production_defaults()
        self.trusted_proxy_networks  # noqa: B018 (a malformed address is refused at start, not per request)
        self.wechat_template_keywords  # noqa: B018 (a malformed keyword list is refused at start too)
        return self

    def turn_on_production_defaults(self) -> None:
        """Safe unless turned off by name: production runs behind HTTPS and serves the PWA's own documents."""
        for name in PRODUCTION_DEFAULTS:
            if name not in self.model_fields_set:
                setattr(self, name, True)

    @property
    def turned_off_in_production(self) -> list[str]:
        """The safe defaults of production this deployment turned off by name (each warned about at start)."""
        if not self.is_production:
            return []
        return [f"LAOYOU_{name.upper()}" for name in PRODUCTION_DEFAULTS if not getattr(self, name)]

    def missing_for_s3(self, *, production: bool) -> list[str]:
        """What LAOYOU_MEDIA_STORAGE=s3 lacks: a bucket, and in production its keys (elsewhere they may come from
        the environment botocore reads: AWS_*, an instance role)."""
        if self.media_storage != "s3":
            return []
        needed = ("bucket", "access_key", "secret_key") if production else ("bucket",)
        return [f"LAOYOU_S3_{name.upper()}" for name in needed if not getattr(self, f"s3_{name}")]

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        try:
            return [
                ip_network(part.strip(), strict=False)
                for part in self.trusted_proxies.split(",")
                if part.strip()
            ]
        except ValueError as exc:
            raise ValueError(f"LAOYOU_TRUSTED_PROXIES: {exc}") from None

    def wechat_messages_configured(self) -> bool:
        """Notices go out as WeChat template messages, and residents inside WeChat are linked to receive them."""
        return bool(self.wechat_mp_appid and self.wechat_mp_secret and self.wechat_template_notice)

    @property
    def wechat_template_keywords(self) -> dict[str, str]:
        """The template's keywords, each with what of the notice it shows: {"thing1": "title", ...}."""
        keywords: dict[str, str] = {}
        for part in self.wechat_template_fields.split(","):
            keyword, _, source = (piece.strip() for piece in part.partition("="))
            if not keyword or source not in WECHAT_NOTICE_PARTS:
                raise ValueError(
                    f"LAOYOU_WECHAT_TEMPLATE_FIELDS: {part.strip()!r} is not keyword=title, body or time"
                )
            keywords[keyword] = source
        return keywords

    @property
    def is_demo(self) -> bool:
        return self.mode == Mode.demo

    @property
    def is_production(self) -> bool:
        return self.mode == Mode.production

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'laoyou.sqlite3').resolve()}"

    @property
    def pwa_dir(self) -> Path:
        return REPO_ROOT / "pwa"


@lru_cache
def get_settings() -> Settings:
    return Settings()
