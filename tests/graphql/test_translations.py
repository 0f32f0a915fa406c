"""Messages reach people in their language: payload errors, top-level denials, and the saved choice."""

from __future__ import annotations

import pytest

from laoyou.core import i18n

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, login_demo

REQUEST_LOGIN_CODE = """
mutation ($phone: String!) { requestLoginCode(phone: $phone) { __typename ... on Error { message code field } } }
"""
INVALID_PHONE = "Please enter a valid mobile number."


@pytest.mark.parametrize(
    "header, language",
    [
        ("zh-CN", "zh_CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh-TW", "zh_TW"),
        ("zh-HK", "zh_TW"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR", "zh_CN"),
        ("", "zh_CN"),
    ],
)
async def test_payload_errors_follow_accept_language(gql, header, language):
    gql.language = header
    result = (await gql(REQUEST_LOGIN_CODE, {"phone": "123"}))["data"]["requestLoginCode"]
    assert result["code"] == "INVALID_PHONE"  # the code is the same in every language
    assert result["message"] == i18n.gettext(INVALID_PHONE, language)


def test_the_chinese_catalogs_translate_the_login_errors():
    for language in ("zh_CN", "zh_TW"):
        for msgid in (
            INVALID_PHONE,
            "That code is not right. %(left)s tries left.",
            "Not found.",
            "Please log in first.",
            "The phone number or password is not right.",
        ):
            assert i18n.gettext(msgid, language, left=3) != i18n.gettext(msgid, "en", left=3), (
                language,
                msgid,
            )


async def test_chinese_payload_error_is_chinese(gql):
    gql.language = "zh-CN"
    result = (await gql(REQUEST_LOGIN_CODE, {"phone": "123"}))["data"]["requestLoginCode"]
    assert result["message"] == "请输入正确的手机号。"


async def test_top_level_denials_are_translated(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    jingju = (await (await login_demo(gql, RESIDENT_JINGJU))("{ viewer { households { id } } }"))["data"][
        "viewer"
    ]
    resident.language = "zh-CN"
    result = await resident(
        "query ($id: ID!) { household(id: $id) { id } }",
        {"id": jingju["households"][0]["id"]},
        expect_errors=True,
    )
    assert result["errors"][0]["message"] == i18n.gettext("Not found.", "zh_CN")
    assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    gql.language = "zh-TW"
    anonymous = await gql("{ communities { nodes { id } } }", expect_errors=True)
    assert anonymous["errors"][0]["message"] == i18n.gettext("Please log in first.", "zh_TW")


async def test_a_saved_language_beats_the_browsers(gql):
    # Given a resident who chose English
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await resident('mutation { updatePreferences(language: "en") { __typename } }')
    # When their browser asks for Chinese
    resident.language = "zh-CN"
    result = await resident("{ viewer { language } }")
    # Then they get English
    assert result["data"]["viewer"]["language"] == "en"
    mistake = await resident('mutation { requestFamilyLink(phone: "1") { ... on Error { message } } }')
    assert mistake["data"]["requestFamilyLink"]["message"] == INVALID_PHONE
