"""Alibaba Cloud SMS and Tencent Cloud SMS: signed requests checked by local stand-ins that verify them as the
providers do, refusals carried as SmsError with the provider's code, and a login by a code sent through each."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from laoyou.accounts.sms import (
    AliyunSms,
    SmsError,
    SmsKind,
    TencentSms,
    aliyun_signature,
    code_message,
    tencent_signature,
    tencent_string_to_sign,
)

from ..conftest import graphql_client, make_database_url, make_settings, started
from .helpers import login_with_code, request_code
from .sms_standins import AliyunStandIn, TencentStandIn

PHONE = "+8613812345678"
LOGIN = code_message(SmsKind.login_code, code="204816", minutes=5)
ALIYUN_TEMPLATES = {SmsKind.login_code: "SMS_100000001", SmsKind.password_code: "SMS_100000002"}
TENCENT_TEMPLATES = {SmsKind.login_code: "2000001", SmsKind.password_code: "2000002"}


@pytest.fixture
def aliyun():  # noqa: ANN201
    with AliyunStandIn(templates={"SMS_100000001": ("code",), "SMS_100000002": ("code",)}) as stand_in:
        yield stand_in


@pytest.fixture
def tencent():  # noqa: ANN201
    with TencentStandIn(templates={"2000001": 1, "2000002": 1}) as stand_in:
        yield stand_in


@pytest.fixture
async def client():  # noqa: ANN201
    async with httpx.AsyncClient() as client:
        yield client


def aliyun_sender(stand_in: AliyunStandIn, client: httpx.AsyncClient, **overrides: object) -> AliyunSms:
    values: dict = {
        "client": client,
        "access_key_id": stand_in.access_key_id,
        "access_key_secret": stand_in.access_key_secret,
        "sign": stand_in.sign,
        "templates": ALIYUN_TEMPLATES,
        "url": stand_in.url,
    }
    return AliyunSms(**(values | overrides))


def tencent_sender(stand_in: TencentStandIn, client: httpx.AsyncClient, **overrides: object) -> TencentSms:
    values: dict = {
        "client": client,
        "secret_id": stand_in.secret_id,
        "secret_key": stand_in.secret_key,
        "app_id": stand_in.app_id,
        "sign": stand_in.sign,
        "templates": TENCENT_TEMPLATES,
        "url": stand_in.url,
    }
    return TencentSms(**(values | overrides))


# --- Alibaba Cloud ---------------------------------------------------------------------------------------------


async def test_aliyun_delivers_the_template_with_the_code(aliyun, client):
    # When a login code is sent through Alibaba Cloud SMS
    await aliyun_sender(aliyun, client).send(PHONE, LOGIN)
    # Then the provider verified the signature and took the approved template with the code alone
    [delivered] = aliyun.delivered
    assert (delivered.phone, delivered.sign, delivered.template) == (
        "13812345678",
        "老友管家",
        "SMS_100000001",
    )
    assert delivered.params == {"code": "204816"}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"access_key_secret": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"access_key_id": "LTAIsomeoneelse"}, "InvalidAccessKeyId.NotFound"),
        ({"sign": "别人的签名"}, "isv.SMS_SIGNATURE_ILLEGAL"),
        ({"templates": {SmsKind.login_code: "SMS_999"}}, "isv.SMS_TEMPLATE_ILLEGAL"),
    ],
)
async def test_aliyun_refusals_carry_the_providers_code(aliyun, client, overrides, code):
    with pytest.raises(SmsError) as refused:
        await aliyun_sender(aliyun, client, **overrides).send(PHONE, LOGIN)
    assert refused.value.code == code and code in str(refused.value)
    assert aliyun.delivered == []


async def test_aliyun_refuses_a_template_whose_variables_are_not_given(aliyun, client):
    # Given an approved template that expects ${number}, not ${code}
    aliyun.templates["SMS_100000003"] = ("number",)
    sender = aliyun_sender(aliyun, client, templates={SmsKind.login_code: "SMS_100000003"})
    with pytest.raises(SmsError) as refused:
        await sender.send(PHONE, LOGIN)
    assert refused.value.code == "isv.TEMPLATE_MISSING_PARAMETERS"


async def test_aliyun_refuses_a_stale_timestamp_and_a_nonce_used_twice(aliyun, client):
    sender = aliyun_sender(aliyun, client)
    stale = sender.signed_params(PHONE, LOGIN, now=datetime.now(UTC) - timedelta(minutes=20), nonce="n-1")
    fresh = sender.signed_params(PHONE, LOGIN, now=datetime.now(UTC), nonce="n-2")
    answers = [(await client.post(aliyun.url, data=p)).json()["Code"] for p in (stale, fresh, fresh)]
    assert answers == ["InvalidTimeStamp.Expired", "OK", "SignatureNonceUsed"]


async def test_aliyun_business_refusal_is_an_sms_error(aliyun, client):
    aliyun.refuse_with = "isv.BUSINESS_LIMIT_CONTROL"
    with pytest.raises(SmsError, match="isv.BUSINESS_LIMIT_CONTROL") as refused:
        await aliyun_sender(aliyun, client).send(PHONE, LOGIN)
    assert refused.value.code == "isv.BUSINESS_LIMIT_CONTROL"


def test_aliyun_signature_is_the_official_sdks():
    composer = pytest.importorskip("aliyunsdkcore.auth.composer.rpc_signature_composer")
    # The SDK fills in its own timestamp and nonce, then signs; ours must sign what it sent the same way.
    params = {"Action": "SendSms", "Version": "2017-05-25", "RegionId": "cn-hangzhou"}
    body = {
        "PhoneNumbers": "13812345678",
        "SignName": "老友管家",
        "TemplateCode": "SMS_1",
        "TemplateParam": '{"code":"1 2~*"}',
    }
    url, _ = composer.get_signed_url(dict(params), "LTAIid", "sec ret", "JSON", "POST", body)
    sent = dict(parse_qsl(url.removeprefix("/?"), keep_blank_values=True))
    assert sent["Signature"] == aliyun_signature("sec ret", "POST", {**sent, **body})


# --- Tencent Cloud ---------------------------------------------------------------------------------------------


async def test_tencent_delivers_the_template_with_the_code(tencent, client):
    await tencent_sender(tencent, client).send(PHONE, LOGIN)
    [delivered] = tencent.delivered
    assert (delivered.phone, delivered.sign, delivered.template) == (PHONE, "老友管家", "2000001")
    assert delivered.params == ["204816"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"secret_key": "not-the-key"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDsomeoneelse"}, "AuthFailure.SecretIdNotFound"),
        ({"app_id": "1400999999"}, "InvalidParameterValue.SdkAppIdNotExist"),
        ({"sign": "别人的签名"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
        ({"templates": {SmsKind.login_code: "999"}}, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ],
)
async def test_tencent_refusals_carry_the_providers_code(tencent, client, overrides, code):
    with pytest.raises(SmsError) as refused:
        await tencent_sender(tencent, client, **overrides).send(PHONE, LOGIN)
    assert refused.value.code == code and code in str(refused.value)
    assert tencent.delivered == []


async def test_tencent_refuses_a_template_with_other_parameters(tencent, client):
    tencent.templates["2000003"] = 2  # approved with {1} and {2}
    with pytest.raises(SmsError) as refused:
        await tencent_sender(tencent, client, templates={SmsKind.login_code: "2000003"}).send(PHONE, LOGIN)
    assert refused.value.code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"


async def test_tencent_refuses_a_stale_timestamp(tencent, client):
    sender = tencent_sender(tencent, client)
    headers, payload = sender.signed_request(PHONE, LOGIN, timestamp=int(datetime.now(UTC).timestamp()) - 600)
    answer = (await client.post(tencent.url, content=payload, headers=headers)).json()
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"


async def test_tencent_a_refused_number_is_an_sms_error(tencent, client):
    tencent.fail_number_with = "LimitExceeded.PhoneNumberOneHourLimit"
    with pytest.raises(SmsError) as refused:
        await tencent_sender(tencent, client).send(PHONE, LOGIN)
    assert refused.value.code == "LimitExceeded.PhoneNumberOneHourLimit"


def test_tencent_signature_is_the_official_sdks():
    sign = pytest.importorskip("tencentcloud.common.sign")
    timestamp = 1_765_000_000
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": "sms.tencentcloudapi.com",
        "X-TC-Action": "SendSms",
    }
    string_to_sign = tencent_string_to_sign(
        headers=headers,
        signed_headers=["content-type", "host", "x-tc-action"],
        payload=b'{"PhoneNumberSet":["+8613812345678"]}',
        timestamp=timestamp,
        service="sms",
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    official = sign.Sign.sign_tc3("the-secret-key", date, "sms", string_to_sign)
    assert tencent_signature("the-secret-key", string_to_sign, timestamp=timestamp, service="sms") == official


# --- what both share: retries only where the provider cannot have the message ------------------------------


async def test_a_connection_that_never_opened_is_tried_once_more():
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"Code": "OK", "Message": "OK", "RequestId": "r"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        sender = AliyunSms(
            access_key_id="id",
            access_key_secret="s",
            sign="老友管家",
            templates=ALIYUN_TEMPLATES,
            client=client,
        )
        await sender.send(PHONE, LOGIN)
    assert len(calls) == 2


async def test_a_timeout_after_sending_is_not_retried():
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadTimeout("no answer", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        sender = TencentSms(
            secret_id="id",
            secret_key="k",
            app_id="1400000001",
            sign="老友管家",
            templates=TENCENT_TEMPLATES,
            client=client,
        )
        with pytest.raises(SmsError, match="did not answer in time"):
            await sender.send(PHONE, LOGIN)
    assert len(calls) == 1


async def test_an_answer_that_is_not_json_is_an_sms_error():
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(502, text="<html>"))
    ) as client:
        sender = AliyunSms(
            access_key_id="id",
            access_key_secret="s",
            sign="老友管家",
            templates=ALIYUN_TEMPLATES,
            client=client,
        )
        with pytest.raises(SmsError, match="502"):
            await sender.send(PHONE, LOGIN)


# --- a login through each provider -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
async def test_a_person_logs_in_with_a_code_sent_through_the_provider(provider, tmp_path, request):
    stand_in = request.getfixturevalue(provider)
    if provider == "aliyun":
        extra = {
            "sms_aliyun_access_key_id": stand_in.access_key_id,
            "sms_aliyun_access_key_secret": stand_in.access_key_secret,
            "sms_template_login_code": "SMS_100000001",
            "sms_template_password_code": "SMS_100000002",
        }
    else:
        extra = {
            "sms_tencent_secret_id": stand_in.secret_id,
            "sms_tencent_secret_key": stand_in.secret_key,
            "sms_tencent_app_id": stand_in.app_id,
            "sms_template_login_code": "2000001",
            "sms_template_password_code": "2000002",
        }
    settings = make_settings(
        tmp_path,
        make_database_url("sqlite", tmp_path, request),
        sms_backend=provider,
        sms_api_url=stand_in.url,
        **extra,
    )
    async with started(settings, load_demo=False) as app, graphql_client(app) as gql:
        # When a code is asked for
        sent = await request_code(gql, "13812345678")
        assert sent["__typename"] == "LoginCodeSent", sent
        # Then the provider got the template with the code, and the code logs in
        [delivered] = stand_in.delivered
        code = delivered.params["code"] if isinstance(delivered.params, dict) else delivered.params[0]
        assert (await login_with_code(gql, "13812345678", code))["__typename"] == "LoggedIn"
    # Shutdown closed the provider's connections
    assert app.state.sms.client.is_closed


def test_the_request_body_is_what_was_signed():
    # The form body Alibaba gets is exactly the signed parameters (nothing added by the client on the way).
    sender = AliyunSms(
        access_key_id="id", access_key_secret="s", sign="老友管家", templates=ALIYUN_TEMPLATES, client=None
    )
    params = sender.signed_params(PHONE, LOGIN, now=datetime(2026, 12, 6, 12, 0, tzinfo=UTC), nonce="abc")
    assert params["Timestamp"] == "2026-12-06T12:00:00Z" and params["PhoneNumbers"] == "13812345678"
    assert json.loads(params["TemplateParam"]) == {"code": "204816"}
    assert dict(parse_qsl(urlencode(params))) == params
