"""Which gateways this process uses, configured from LAOYOU_PAY_* variables.

Kept apart from core Settings so the billing domain owns its secrets: the sandbox is always there
(the embedded default); WeChat Pay and Alipay appear when their merchant settings are given.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from laoyou.billing.gateways import Gateway
from laoyou.billing.gateways.sandbox import SandboxGateway


class PaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAOYOU_PAY_", extra="ignore")

    default_method: str = Field("sandbox", description="the online method residents are offered first")
    public_url: str = Field("http://localhost:8000", description="base of the notify URLs given to gateways")
    wechat_mchid: str = ""
    wechat_appid: str = ""
    wechat_serial_no: str = ""
    wechat_private_key_file: Path | None = None
    wechat_apiv3_key: str = ""
    wechat_platform_serial: str = ""
    wechat_platform_key_file: Path | None = None
    alipay_app_id: str = ""
    alipay_private_key_file: Path | None = None
    alipay_public_key_file: Path | None = None


class Gateways:
    def __init__(self, settings: PaySettings | None = None) -> None:
        self.settings = settings or PaySettings()
        self.sandbox = SandboxGateway()
        self.by_name: dict[str, Gateway] = {"sandbox": self.sandbox}
        s = self.settings
        if s.wechat_mchid and s.wechat_private_key_file and s.wechat_platform_key_file:
            from laoyou.billing.gateways.wechatpay import WeChatPayGateway, load_private_key, load_public_key

            self.by_name["wechat"] = WeChatPayGateway(
                mchid=s.wechat_mchid, appid=s.wechat_appid, serial_no=s.wechat_serial_no,
                private_key=load_private_key(s.wechat_private_key_file.read_bytes()),
                apiv3_key=s.wechat_apiv3_key.encode(),
                platform_keys={s.wechat_platform_serial: load_public_key(s.wechat_platform_key_file.read_bytes())},
                notify_url=f"{s.public_url.rstrip('/')}/billing/notify/wechat",
            )
        if s.alipay_app_id and s.alipay_private_key_file and s.alipay_public_key_file:
            from laoyou.billing.gateways.alipay import AlipayGateway
            from laoyou.billing.gateways.wechatpay import load_private_key, load_public_key

            self.by_name["alipay"] = AlipayGateway(
                app_id=s.alipay_app_id, private_key=load_private_key(s.alipay_private_key_file.read_bytes()),
                alipay_public_key=load_public_key(s.alipay_public_key_file.read_bytes()),
                notify_url=f"{s.public_url.rstrip('/')}/billing/notify/alipay",
            )

    def get(self, name: str) -> Gateway | None:
        return self.by_name.get(name)

    def online_methods(self) -> list[str]:
        return list(self.by_name)


_gateways: Gateways | None = None


def gateways() -> Gateways:
    """The process's gateways, made on first use (the sandbox makes its keys then)."""
    global _gateways
    if _gateways is None:
        _gateways = Gateways()
    return _gateways
