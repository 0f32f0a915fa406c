"""Which gateways this process uses, configured from LAOYOU_PAY_* variables.

Kept apart from core Settings so the billing domain owns its secrets. The sandbox (the embedded default)
is there in demo and dev only: it takes no real money, so a production process never makes it, and refuses
to start when it is configured. WeChat Pay and Alipay appear when their merchant settings are given.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from laoyou.billing.gateways import Gateway
from laoyou.billing.gateways.sandbox import SandboxGateway
from laoyou.billing.gateways.wechat_oauth import WeChatOAuth
from laoyou.core.settings import FromSecretsDir, Settings, get_settings


class PaySettings(FromSecretsDir):  # keys may be files in LAOYOU_SECRETS_DIR
    model_config = SettingsConfigDict(env_prefix="LAOYOU_PAY_", extra="ignore", populate_by_name=True)

    default_method: str = Field(
        "",
        description="the online method residents are offered first; empty: the first "
        "configured (the sandbox outside production)",
    )
    public_url: str = Field("http://localhost:8000", description="base of the notify URLs given to gateways")
    proxy: str = Field(
        "",
        description="an HTTP(S) proxy the requests to WeChat Pay and Alipay go through (a company proxy), "
        "e.g. http://proxy.example.cn:3128; empty: straight out",
    )
    wechat_base_url: str = Field(
        "https://api.mch.weixin.qq.com",
        description="WeChat Pay's API; its backup domain is https://api2.mch.weixin.qq.com",
    )
    wechat_mchid: str = ""
    wechat_appid: str = ""
    wechat_serial_no: str = ""
    wechat_private_key_file: Path | None = None
    wechat_apiv3_key: str = ""
    wechat_platform_serial: str = Field(
        "", description="a platform certificate's serial (hex); later certificates are downloaded"
    )
    wechat_platform_key_file: Path | None = None
    wechat_public_key_id: str = Field("", description="the platform public key's id (公钥模式), PUB_KEY_ID_…")
    wechat_public_key_file: Path | None = None
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    wechat_mp_appid: str = Field(
        "",
        validation_alias="LAOYOU_WECHAT_MP_APPID",
        description="the official account (公众号) whose web authorisation tells a payer's openid inside "
        "WeChat; JSAPI orders are made for it, so it is also LAOYOU_PAY_WECHAT_APPID",
    )
    wechat_mp_secret: str = Field(
        "", validation_alias="LAOYOU_WECHAT_MP_SECRET", description="that official account's AppSecret"
    )
    alipay_app_id: str = ""
    alipay_seller_id: str = Field(
        "",
        description="the 2088… partner id (卖家支付宝用户号) the money goes to; a notification naming another "
        "seller is refused, as Alipay's documentation requires",
    )
    alipay_private_key_file: Path | None = None
    alipay_public_key_file: Path | None = None

    def jsapi_configured(self) -> bool:
        """Paying inside WeChat: WeChat Pay, and the official account its orders are made for."""
        return (
            "wechat" in self.configured()
            and bool(self.wechat_mp_appid and self.wechat_mp_secret)
            and self.wechat_mp_appid == self.wechat_appid
        )

    def configured(self) -> list[str]:
        """The real gateways whose merchant settings are given."""
        names = []
        if (
            self.wechat_mchid
            and self.wechat_private_key_file
            and (self.wechat_platform_key_file or self.wechat_public_key_file or self.wechat_apiv3_key)
        ):
            names.append("wechat")
        if (
            self.alipay_app_id
            and self.alipay_seller_id
            and self.alipay_private_key_file
            and self.alipay_public_key_file
        ):
            names.append("alipay")
        return names


def check_pay_settings(pay: PaySettings, *, production: bool) -> None:
    """Refuse to start with the sandbox in production, or with a default method that is not configured."""
    if production and pay.default_method == "sandbox":
        raise ValueError(
            "LAOYOU_PAY_DEFAULT_METHOD=sandbox is refused in production mode: the sandbox cashier "
            "takes no real money and exists in demo and dev only; configure WeChat Pay "
            "(LAOYOU_PAY_WECHAT_*) or Alipay (LAOYOU_PAY_ALIPAY_*)"
        )
    available = pay.configured() if production else ["sandbox", *pay.configured()]
    if pay.default_method and pay.default_method not in available:
        raise ValueError(
            f"LAOYOU_PAY_DEFAULT_METHOD={pay.default_method} is not a configured payment method "
            f"(configured: {', '.join(available) or 'none'})"
        )


def wechat_certificate_store(data_dir: Path) -> Path:
    """Where downloaded WeChat Pay platform certificates are kept (wechat_keys.py says why there)."""
    return data_dir / "wechatpay" / "platform-certificates.json"


class Gateways:
    def __init__(
        self, settings: PaySettings | None = None, *, production: bool = False, data_dir: Path | None = None
    ) -> None:
        self.settings = settings or PaySettings()
        check_pay_settings(self.settings, production=production)
        self.sandbox = None if production else SandboxGateway()
        self.by_name: dict[str, Gateway] = {"sandbox": self.sandbox} if self.sandbox is not None else {}
        s = self.settings
        configured = s.configured()
        if "wechat" in configured:
            from laoyou.billing.gateways.wechatpay import WeChatPayGateway, load_private_key, load_public_key

            # Both modes at once while the merchant moves from platform certificates to the public key
            configured_keys = {
                serial: load_public_key(path.read_bytes())
                for serial, path in (
                    (s.wechat_platform_serial, s.wechat_platform_key_file),
                    (s.wechat_public_key_id, s.wechat_public_key_file),
                )
                if path is not None
            }
            self.by_name["wechat"] = WeChatPayGateway(
                mchid=s.wechat_mchid,
                appid=s.wechat_appid,
                serial_no=s.wechat_serial_no,
                private_key=load_private_key(s.wechat_private_key_file.read_bytes()),
                apiv3_key=s.wechat_apiv3_key.encode(),
                platform_keys=configured_keys,
                notify_url=f"{s.public_url.rstrip('/')}/billing/notify/wechat",
                base_url=s.wechat_base_url,
                certificate_store=wechat_certificate_store(data_dir or get_settings().data_dir),
                proxy=s.proxy,
            )
        if "alipay" in configured:
            from laoyou.billing.gateways.alipay import AlipayGateway
            from laoyou.billing.gateways.wechatpay import load_private_key, load_public_key

            self.by_name["alipay"] = AlipayGateway(
                app_id=s.alipay_app_id,
                seller_id=s.alipay_seller_id,
                private_key=load_private_key(s.alipay_private_key_file.read_bytes()),
                alipay_public_key=load_public_key(s.alipay_public_key_file.read_bytes()),
                notify_url=f"{s.public_url.rstrip('/')}/billing/notify/alipay",
                gateway_url=s.alipay_gateway_url,
                proxy=s.proxy,
            )

        self.wechat_oauth = (
            WeChatOAuth(appid=s.wechat_mp_appid, secret=s.wechat_mp_secret) if s.jsapi_configured() else None
        )

    def get(self, name: str) -> Gateway | None:
        return self.by_name.get(name)

    def online_methods(self, *, in_wechat: bool = False) -> list[str]:
        """The default first; inside WeChat, WeChat Pay first when it can be paid there (JSAPI): WeChat's
        browser opens neither WeChat Pay's H5 pages nor Alipay."""
        default = "wechat" if in_wechat and self.wechat_oauth is not None else self.settings.default_method
        return sorted(self.by_name, key=lambda name: name != default)

    def default_method(self, *, in_wechat: bool = False) -> str | None:
        return next(iter(self.online_methods(in_wechat=in_wechat)), None)


_gateways: Gateways | None = None  # demo and dev: with the sandbox
_production_gateways: Gateways | None = None


def gateways(settings: Settings | None = None) -> Gateways:
    """The gateways of the app's mode (the settings given, else the process's), made on first use: outside
    production with the sandbox, which makes its keys then."""
    global _gateways, _production_gateways
    if (settings or get_settings()).is_production:
        if _production_gateways is None:
            _production_gateways = Gateways(production=True)
        return _production_gateways
    if _gateways is None:
        _gateways = Gateways()
    return _gateways
