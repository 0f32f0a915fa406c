"""Voice call notification: calls signed and checked by stand-ins that verify them as Alibaba Cloud and Tencent
Cloud do, refusals carried as ChannelFailed that says whether to try again, the providers' call reports parsed
(answered; pressed 1), the report endpoints behind the callback token, and the settings production accepts."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import ValidationError

import laoyou.notify.reach
from laoyou.core.settings import Settings
from laoyou.notify.reach.channels import CallReport, ChannelFailed, Notice
from laoyou.notify.reach.voice import (
    AliyunVoice,
    ConsoleVoice,
    ReportError,
    TencentVoice,
    make_voice_sender,
    parse_aliyun_report,
    parse_tencent_callback,
)

from ..conftest import make_database_url, make_settings, started
from ..support.servers import free_port
from .voice_standin import (
    AliyunVoiceStandIn,
    TencentVoiceStandIn,
    aliyun_expected_signature,
    tencent_expected_signature,
)

PHONE = "+8613812345678"
TITLE = "紧急通知：3号楼今晚停水，请提前储水，有困难请联系管家"  # longer than either provider's variable
EMERGENCY = Notice(kind="emergency", priority="emergency", title=TITLE, body="", url="https://x.cn/n/1")
IMPORTANT = Notice(
    kind="bill_due", priority="important", title="本月物业费到期", body="", url="https://x.cn/b"
)
ALIYUN_TEMPLATES = {"emergency": "TTS_100000001", "important": "TTS_100000002"}
TENCENT_TEMPLATES = {"emergency": "3000001", "important": "3000002"}
TOKEN = "voice-callback-token-0123456789"


@pytest.fixture
def aliyun():  # noqa: ANN201
    templates = {"TTS_100000001": ("title",), "TTS_100000002": ("title",)}
    with AliyunVoiceStandIn(templates=templates, show_numbers=("057112345678",)) as stand_in:
        yield stand_in


@pytest.fixture
def tencent():  # noqa: ANN201
    with TencentVoiceStandIn(templates={"3000001": 1, "3000002": 1}) as stand_in:
        yield stand_in


@pytest.fixture
async def client():  # noqa: ANN201
    async with httpx.AsyncClient() as client:
        yield client


def aliyun_caller(
    stand_in: AliyunVoiceStandIn, client: httpx.AsyncClient, **overrides: object
) -> AliyunVoice:
    values: dict = {
        "client": client,
        "access_key_id": stand_in.access_key_id,
        "access_key_secret": stand_in.access_key_secret,
        "templates": ALIYUN_TEMPLATES,
        "show_number": "057112345678",
        "url": stand_in.url,
    }
    return AliyunVoice(**(values | overrides))


def tencent_caller(
    stand_in: TencentVoiceStandIn, client: httpx.AsyncClient, **overrides: object
) -> TencentVoice:
    values: dict = {
        "client": client,
        "secret_id": stand_in.secret_id,
        "secret_key": stand_in.secret_key,
        "app_id": stand_in.app_id,
        "templates": TENCENT_TEMPLATES,
        "url": stand_in.url,
    }
    return TencentVoice(**(values | overrides))


def answering(status: int, content: bytes = b"", seen: list | None = None) -> httpx.AsyncClient:
    """A client whose every request gets this answer (and is kept in `seen`)."""

    def reply(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=content)

    return httpx.AsyncClient(transport=httpx.MockTransport(reply))


# --- Alibaba Cloud ---------------------------------------------------------------------------------------------


async def test_aliyun_rings_with_the_priority_template_and_the_title(aliyun, client):
    caller = aliyun_caller(aliyun, client)
    call_id = await caller.call(PHONE, EMERGENCY, reference="rs-41")
    [placed] = aliyun.placed
    assert call_id == placed.call_id and "^" in call_id
    assert placed.phone == "13812345678" and placed.template == "TTS_100000001"
    assert placed.variables == {"title": TITLE[:20]}
    assert (placed.reference, placed.show_number, placed.play_times) == ("rs-41", "057112345678", 2)
    await caller.call("+8613900001111", IMPORTANT, reference="rs-42")
    assert aliyun.placed[1].template == "TTS_100000002"
    assert aliyun.placed[1].variables == {"title": "本月物业费到期"}


async def test_aliyun_request_is_the_signed_form_of_single_call_by_tts():
    seen: list[httpx.Request] = []
    answer = json.dumps({"RequestId": "R", "Code": "OK", "Message": "OK", "CallId": "11^22"}).encode()
    async with answering(200, answer, seen) as client:
        caller = AliyunVoice(
            access_key_id="KEY", access_key_secret="SECRET", templates=ALIYUN_TEMPLATES, client=client
        )
        assert await caller.call(PHONE, EMERGENCY, reference="rs-7") == "11^22"
    [request] = seen
    assert request.method == "POST" and str(request.url) == "https://dyvmsapi.aliyuncs.com/"
    params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    nonce, stamp, signature = params.pop("SignatureNonce"), params.pop("Timestamp"), params.pop("Signature")
    assert params == {
        "AccessKeyId": "KEY",
        "Action": "SingleCallByTts",
        "CalledNumber": "13812345678",
        "Format": "JSON",
        "OutId": "rs-7",
        "PlayTimes": "2",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "TtsCode": "TTS_100000001",
        "TtsParam": json.dumps({"title": TITLE[:20]}, ensure_ascii=False, separators=(",", ":")),
        "Version": "2017-05-25",
    }  # no CalledShowNumber: the public mode's pool
    assert len(nonce) == 32
    assert (
        abs(
            (
                datetime.now(UTC) - datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            ).total_seconds()
        )
        < 60
    )
    signed = params | {"SignatureNonce": nonce, "Timestamp": stamp}
    assert signature == aliyun_expected_signature("SECRET", "POST", signed)


async def test_aliyun_the_same_number_twice_in_a_minute_is_throttled_and_may_be_tried_again(aliyun, client):
    caller = aliyun_caller(aliyun, client)
    await caller.call(PHONE, EMERGENCY, reference="rs-1")
    with pytest.raises(ChannelFailed) as failed:
        await caller.call(PHONE, EMERGENCY, reference="rs-2")
    assert failed.value.retry and failed.value.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert len(aliyun.placed) == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"access_key_secret": "wrong"}, "SignatureDoesNotMatch"),
        ({"access_key_id": "LTAIunknown"}, "InvalidAccessKeyId.NotFound"),
        ({"templates": {"emergency": "TTS_999", "important": "TTS_999"}}, "isv.TTS_TEMPLATE_ILLEGAL"),
        ({"show_number": "01000000000"}, "isv.DISPLAY_NUMBER_ILLEGAL"),
    ],
)
async def test_aliyun_refusals_fail_for_good_with_the_providers_code(aliyun, client, overrides, code):
    with pytest.raises(ChannelFailed) as failed:
        await aliyun_caller(aliyun, client, **overrides).call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.code == code and not failed.value.retry
    assert not aliyun.placed


async def test_aliyun_a_fault_of_the_provider_may_be_tried_again(aliyun, client):
    aliyun.answer_status = 503
    caller = aliyun_caller(aliyun, client)
    with pytest.raises(ChannelFailed) as failed:
        await caller.call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.retry and failed.value.code == "ServiceUnavailable"
    assert await caller.call(PHONE, EMERGENCY, reference="rs-1")  # and the next try rings


# --- Tencent Cloud ---------------------------------------------------------------------------------------------


async def test_tencent_rings_with_the_priority_template_and_the_title(tencent, client):
    caller = tencent_caller(tencent, client)
    call_id = await caller.call(PHONE, EMERGENCY, reference="rs-51")
    [placed] = tencent.placed
    assert call_id == placed.call_id
    assert (placed.phone, placed.template, placed.variables) == (PHONE, "3000001", [TITLE[:50]])
    assert (placed.reference, placed.play_times) == ("rs-51", 2)
    await caller.call(PHONE, IMPORTANT, reference="rs-52")
    assert tencent.placed[1].template == "3000002"


async def test_tencent_request_is_the_signed_json_of_send_tts_voice():
    seen: list[httpx.Request] = []
    answer = {"Response": {"SendStatus": {"CallId": "c-9", "SessionContext": "rs-9"}, "RequestId": "r"}}
    async with answering(200, json.dumps(answer).encode(), seen) as client:
        caller = TencentVoice(
            secret_id="AKID",
            secret_key="KEY",
            app_id="1400000009",
            templates=TENCENT_TEMPLATES,
            client=client,
        )
        assert await caller.call(PHONE, IMPORTANT, reference="rs-9") == "c-9"
    [request] = seen
    assert str(request.url) == "https://vms.tencentcloudapi.com/"
    assert json.loads(request.content) == {
        "TemplateId": "3000002",
        "TemplateParamSet": ["本月物业费到期"],
        "CalledNumber": PHONE,
        "VoiceSdkAppid": "1400000009",
        "PlayTimes": 2,
        "SessionContext": "rs-9",
    }
    headers = request.headers
    assert (headers["x-tc-action"], headers["x-tc-version"], headers["x-tc-region"]) == (
        "SendTtsVoice",
        "2020-09-02",
        "ap-guangzhou",
    )
    timestamp = int(headers["x-tc-timestamp"])
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signature = tencent_expected_signature(
        "KEY",
        headers=dict(headers),
        signed=["content-type", "host", "x-tc-action"],
        body=request.content,
        timestamp=timestamp,
        service="vms",
    )
    assert headers["authorization"] == (
        f"TC3-HMAC-SHA256 Credential=AKID/{date}/vms/tc3_request, "
        f"SignedHeaders=content-type;host;x-tc-action, Signature={signature}"
    )


@pytest.mark.parametrize(
    ("refusal", "retry"),
    [
        ("RequestLimitExceeded", True),
        ("InternalError.OtherError", True),
        ("LimitExceeded.AppDailyLimit", True),
        ("FailedOperation.TemplateIncorrectOrUnapproved", False),
        ("UnauthorizedOperation.SdkAppidIsDisabled", False),
    ],
)
async def test_tencent_refusals_say_whether_to_try_again(tencent, client, refusal, retry):
    tencent.refuse_with = refusal
    with pytest.raises(ChannelFailed) as failed:
        await tencent_caller(tencent, client).call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.code == refusal and failed.value.retry is retry


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"secret_key": "wrong"}, "AuthFailure.SignatureFailure"),
        ({"app_id": "1400999999"}, "InvalidParameterValue.SdkAppidNotExist"),
        (
            {"templates": {"emergency": "9", "important": "9"}},
            "FailedOperation.TemplateIncorrectOrUnapproved",
        ),
    ],
)
async def test_tencent_the_stand_in_refuses_what_tencent_would(tencent, client, overrides, code):
    with pytest.raises(ChannelFailed) as failed:
        await tencent_caller(tencent, client, **overrides).call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.code == code and not failed.value.retry
    assert not tencent.placed


# --- what either provider's answer may be ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [aliyun_caller, tencent_caller])
async def test_a_provider_that_cannot_be_reached_may_be_tried_again(make):
    unreachable = types.SimpleNamespace(
        access_key_id="K", access_key_secret="S", secret_id="I", secret_key="S", app_id="1400000001",
        url=f"http://127.0.0.1:{free_port()}/",
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        with pytest.raises(ChannelFailed) as failed:
            await make(unreachable, client).call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.retry and "unreachable" in str(failed.value)


@pytest.mark.parametrize("make", [aliyun_caller, tencent_caller])
@pytest.mark.parametrize(("status", "retry"), [(502, True), (400, False)])
async def test_an_answer_without_json_is_a_failure_tried_again_only_after_a_fault(make, status, retry):
    stand_in = types.SimpleNamespace(
        access_key_id="K", access_key_secret="S", secret_id="I", secret_key="S", app_id="1", url="http://p/"
    )
    async with answering(status, b"<html>bad gateway</html>") as client:
        with pytest.raises(ChannelFailed) as failed:
            await make(stand_in, client).call(PHONE, EMERGENCY, reference="rs-1")
    assert failed.value.retry is retry and "without JSON" in str(failed.value)


async def test_the_console_logs_the_call_and_keeps_it(caplog):
    console = ConsoleVoice(keep=2)
    call_id = await console.call(PHONE, EMERGENCY, reference="rs-3")
    assert console.last_to(PHONE).call_id == call_id and console.last_to("+8613900000000") is None
    assert TITLE in caplog.text and PHONE in caplog.text
    await console.aclose()


# --- the call reports --------------------------------------------------------------------------------------------

# Alibaba's HTTP push: VoiceReport (the record once the call ends) and VoiceCallReport (states while it runs).
ALIYUN_VOICE_REPORT = [
    {
        "status_code": "200000",
        "smart_status_code": "ANSWERED",
        "hangup_direction": "用户",
        "callee": "1390000****",
        "ring_time": "2023-03-13 11:18:24",
        "duration": "7",
        "voice_type": "voice",
        "b_duration": 7,
        "originate_time": "2023-03-13 11:18:16",
        "start_time": "2023-03-13 11:18:36",
        "end_time": "2023-03-13 11:18:43",
        "call_id": "116012854210^102814279****",
        "out_id": "rs-41",
        "status_msg": "用户听完语音",
        "caller": "0571****5678",
    },
    {
        "status_code": "200003",
        "callee": "1390000****",
        "duration": "0",
        "start_time": "",
        "end_time": "",
        "call_id": "116012854211^102814279****",
        "out_id": "rs-42",
        "status_msg": "用户收到呼叫但未接听",
    },
]
ALIYUN_CALL_REPORT = [
    {
        "status_code": "300000",
        "smart_status_code": "ANSWERED",
        "dtmf": "1",
        "status_time": "2023-03-06 16:21:12",
        "out_id": "rs-41",
        "call_id": "116012854210^102814279****",
    },
    {"status_code": "200201", "status_time": "2023-03-06 16:21:02", "call_id": "116012854212^1"},
]


def test_aliyun_reports_say_who_answered_and_the_key_she_pressed():
    assert parse_aliyun_report(json.dumps(ALIYUN_VOICE_REPORT, ensure_ascii=False).encode()) == [
        CallReport(call_id="116012854210^102814279****", answered=True, reference="rs-41"),
        CallReport(call_id="116012854211^102814279****", answered=False, reference="rs-42"),
    ]
    assert parse_aliyun_report(json.dumps(ALIYUN_CALL_REPORT).encode()) == [
        CallReport(call_id="116012854210^102814279****", answered=True, keypress="1", reference="rs-41"),
        CallReport(call_id="116012854212^1", answered=False),  # still ringing
    ]
    assert parse_aliyun_report(b"[]") == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"call_id": "1", "status_code": "200000"}', "not a JSON array"),
        (b'["1^2"]', "not a JSON object"),
        (b'[{"status_code": "200000"}]', "lacks call_id"),
        (b'[{"call_id": "1^2"}]', "lacks status_code"),
        (b'[{"call_id": ["1"], "status_code": "200000"}]', "call_id is not text"),
    ],
)
def test_a_malformed_aliyun_report_is_refused(body, said):
    with pytest.raises(ReportError, match=said):
        parse_aliyun_report(body)


TENCENT_PROMPT = {
    "voiceprompt_callback": {
        "result": "0",
        "accept_time": "1470197211",
        "call_from": "",
        "callid": "12582bce-403c-11eb-96b8-525400476c37",
        "end_calltime": "1470197221",
        "fee": "1",
        "mobile": "13xxxxxxxxx",
        "nationcode": "86",
        "start_calltime": "1470197196",
    }
}
TENCENT_KEY = {
    "voicekey_callback": {
        "call_from": "",
        "callid": "12582bce-403c-11eb-96b8-525400476c37",
        "keypress": "1",
        "mobile": "13xxxxxxxxx",
        "nationcode": "86",
    }
}
TENCENT_FAILURE = {
    "voice_failure_callback": {
        "call_from": "075583763333",
        "callid": "c-2",
        "failure_code": 8,
        "failure_reason": "空号",
        "mobile": "13xxxxxxxxx",
        "nationcode": "86",
    }
}


def test_tencent_callbacks_say_who_answered_and_the_key_she_pressed():
    call = "12582bce-403c-11eb-96b8-525400476c37"
    assert parse_tencent_callback(json.dumps(TENCENT_PROMPT).encode()) == [CallReport(call, answered=True)]
    missed = {"voiceprompt_callback": TENCENT_PROMPT["voiceprompt_callback"] | {"result": "1"}}
    assert parse_tencent_callback(json.dumps(missed).encode()) == [CallReport(call, answered=False)]
    assert parse_tencent_callback(json.dumps(TENCENT_KEY).encode()) == [
        CallReport(call, answered=True, keypress="1")
    ]
    body = json.dumps(TENCENT_FAILURE, ensure_ascii=False).encode()
    assert parse_tencent_callback(body) == [CallReport("c-2", answered=False)]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"voicecode_callback": {"callid": "x", "result": "0"}}', "holds none of"),
        (b'{"voicekey_callback": "1"}', "voicekey_callback is not a JSON object"),
        (b'{"voicekey_callback": {"callid": "x"}}', "lacks keypress"),
        (b'{"voiceprompt_callback": {"result": "0"}}', "lacks callid"),
    ],
)
def test_a_malformed_tencent_callback_is_refused(body, said):
    with pytest.raises(ReportError, match=said):
        parse_tencent_callback(body)


# --- the report endpoints ----------------------------------------------------------------------------------------


@pytest.fixture
def reach_service(monkeypatch):  # noqa: ANN001, ANN201
    """Stands in for the reach service's do_voice_report: keeps each report it is handed, and knows every call
    but "unknown"."""
    handed: list[CallReport] = []

    async def do_voice_report(session, report: CallReport) -> bool:  # noqa: ANN001
        assert session.in_transaction() is not None
        handed.append(report)
        return report.call_id != "unknown"

    service = types.ModuleType("laoyou.notify.reach.service")
    service.do_voice_report = do_voice_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, service.__name__, service)
    monkeypatch.setattr(laoyou.notify.reach, "service", service, raising=False)
    return handed


@pytest.fixture(scope="module")
async def voice_app(tmp_path_factory, request):  # noqa: ANN001, ANN201
    tmp = tmp_path_factory.mktemp("voice")
    settings = make_settings(
        tmp, make_database_url("sqlite", tmp, request), mode="dev", voice_callback_token=TOKEN
    )
    async with started(settings) as app:
        yield app


@pytest.fixture
async def http(voice_app):  # noqa: ANN001, ANN201
    transport = httpx.ASGITransport(app=voice_app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_aliyun_reports_reach_the_service_and_are_answered_as_alibaba_expects(http, reach_service):
    body = json.dumps(ALIYUN_CALL_REPORT + [{"call_id": "unknown", "status_code": "200000"}]).encode()
    response = await http.post(f"/reach/voice/aliyun/{TOKEN}", content=body)
    assert response.status_code == 200 and response.json() == {"code": 0, "msg": "接收成功"}
    assert [r.call_id for r in reach_service] == ["116012854210^102814279****", "116012854212^1", "unknown"]
    assert reach_service[0].keypress == "1"


async def test_tencent_callbacks_reach_the_service_and_are_answered_as_tencent_expects(http, reach_service):
    response = await http.post(f"/reach/voice/tencent/{TOKEN}", content=json.dumps(TENCENT_KEY).encode())
    assert response.status_code == 200 and response.json() == {"result": 0, "errmsg": "OK"}
    assert reach_service == [CallReport("12582bce-403c-11eb-96b8-525400476c37", answered=True, keypress="1")]


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
@pytest.mark.parametrize("token", ["wrong-token-0123456789012", TOKEN[:-1], TOKEN + "x", "x"])
async def test_a_stranger_without_the_token_gets_404_and_nothing_is_recorded(
    http, reach_service, provider, token
):
    body = json.dumps(ALIYUN_CALL_REPORT if provider == "aliyun" else TENCENT_KEY).encode()
    response = await http.post(f"/reach/voice/{provider}/{token}", content=body)
    assert response.status_code == 404 and reach_service == []


@pytest.mark.parametrize(
    ("provider", "body"),
    [("aliyun", b"{not json"), ("aliyun", b'[{"status_code": "200000"}]'), ("tencent", b'{"other": 1}')],
)
async def test_a_malformed_report_gets_400_in_plain_words_and_nothing_is_recorded(
    http, reach_service, provider, body
):
    response = await http.post(f"/reach/voice/{provider}/{TOKEN}", content=body)
    assert response.status_code == 400 and response.text.startswith("not a call report: ")
    assert reach_service == []


# --- settings ----------------------------------------------------------------------------------------------------

PRIVATE = "a-private-secret-key-of-forty-characters!!"
PRODUCTION = {
    "mode": "production",
    "secret_key": PRIVATE,
    "sms_backend": "http",
    "sms_gateway_url": "https://g",
}
ALIYUN = {
    "voice_backend": "aliyun",
    "voice_aliyun_access_key_id": "LTAI5tKey",
    "voice_aliyun_access_key_secret": "secret",
    "voice_template_emergency": "TTS_1",
    "voice_template_important": "TTS_2",
    "voice_callback_token": TOKEN,
}
TENCENT = {
    "voice_backend": "tencent",
    "voice_tencent_secret_id": "AKID",
    "voice_tencent_secret_key": "key",
    "voice_tencent_app_id": "1400000002",
    "voice_template_emergency": "3000001",
    "voice_template_important": "3000002",
    "voice_callback_token": TOKEN,
}


def test_production_refuses_the_console_caller_and_must_choose():
    with pytest.raises(ValidationError, match="LAOYOU_VOICE_BACKEND must be none, aliyun or tencent"):
        Settings(**PRODUCTION)
    assert make_voice_sender(Settings(**PRODUCTION, voice_backend="none")) is None
    for provider in (ALIYUN, TENCENT):
        assert make_voice_sender(Settings(**PRODUCTION | provider)) is not None


def test_outside_production_the_console_is_the_default():
    assert isinstance(make_voice_sender(Settings(mode="dev")), ConsoleVoice)
    assert isinstance(make_voice_sender(Settings(mode="demo")), ConsoleVoice)


async def test_a_provider_is_made_with_its_settings():
    aliyun = make_voice_sender(Settings(**ALIYUN, voice_show_number="057112345678", voice_play_times=3))
    assert isinstance(aliyun, AliyunVoice)
    assert (aliyun.url, aliyun.show_number, aliyun.play_times) == (
        "https://dyvmsapi.aliyuncs.com/",
        "057112345678",
        3,
    )
    assert aliyun.templates == {"emergency": "TTS_1", "important": "TTS_2"}
    tencent = make_voice_sender(Settings(**TENCENT, voice_api_url="http://127.0.0.1:9/"))
    assert isinstance(tencent, TencentVoice)
    assert (tencent.url, tencent.app_id, tencent.region) == (
        "http://127.0.0.1:9/",
        "1400000002",
        "ap-guangzhou",
    )
    await aliyun.aclose()
    await tencent.aclose()


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (
            {"voice_backend": "carrier-pigeon"},
            "LAOYOU_VOICE_BACKEND must be one of none, console, aliyun, tencent",
        ),
        (
            ALIYUN | {"voice_aliyun_access_key_secret": "", "voice_template_important": ""},
            "LAOYOU_VOICE_BACKEND=aliyun needs LAOYOU_VOICE_ALIYUN_ACCESS_KEY_SECRET, LAOYOU_VOICE_TEMPLATE_IMPORTANT",
        ),
        (ALIYUN | {"voice_callback_token": ""}, "needs LAOYOU_VOICE_CALLBACK_TOKEN"),
        (ALIYUN | {"voice_callback_token": "short"}, "LAOYOU_VOICE_CALLBACK_TOKEN must be at least 16"),
        (
            ALIYUN | {"voice_template_emergency": "123"},
            "LAOYOU_VOICE_TEMPLATE_EMERGENCY: Alibaba Cloud voice",
        ),
        (
            TENCENT | {"voice_tencent_app_id": "app"},
            "LAOYOU_VOICE_TENCENT_APP_ID: Tencent Cloud VMS ids are numbers",
        ),
        (
            TENCENT | {"voice_tencent_secret_id": " "},
            "LAOYOU_VOICE_BACKEND=tencent needs LAOYOU_VOICE_TENCENT_SECRET_ID",
        ),
    ],
)
def test_a_provider_without_what_it_needs_is_refused_in_one_line(values, said):
    with pytest.raises(ValueError, match=said) as refused:
        make_voice_sender(Settings(**values))
    assert "\n" not in str(refused.value)


def test_play_times_is_one_to_three():
    with pytest.raises(ValidationError):
        Settings(voice_play_times=4)
