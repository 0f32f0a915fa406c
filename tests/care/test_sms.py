"""A notice that climbed to SMS (notify.reach): a provider without its (optional) template refuses it before any
request, so logins keep working and the notice climbs on to a call."""

from __future__ import annotations

import httpx
import pytest

from laoyou.accounts.sms import AliyunSms, SmsError, SmsKind, SmsMessage, sms_settings_problem

from ..conftest import make_settings


async def test_no_template_no_request(tmp_path):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        sender = AliyunSms(
            access_key_id="id",
            access_key_secret="secret",
            sign="老友管家",
            templates={SmsKind.login_code: "SMS_1", SmsKind.password_code: "SMS_2", SmsKind.notice: ""},
            client=client,
        )
        with pytest.raises(SmsError, match="LAOYOU_SMS_TEMPLATE_NOTICE"):
            await sender.send("+8613800000003", SmsMessage(SmsKind.notice, {"title": "3号楼今晚停水"}))


def test_the_notice_template_is_optional(tmp_path):
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        sms_backend="aliyun",
        sms_aliyun_access_key_id="id",
        sms_aliyun_access_key_secret="secret",
        sms_template_login_code="SMS_1",
        sms_template_password_code="SMS_2",
    )
    assert sms_settings_problem(settings) == ""
    wrong = settings.model_copy(update={"sms_template_notice": "notice"})
    assert "LAOYOU_SMS_TEMPLATE_NOTICE" in sms_settings_problem(wrong)
