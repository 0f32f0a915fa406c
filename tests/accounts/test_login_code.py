"""Logging in with a code sent by SMS: phone numbers, codes, attempts, expiry, strangers, rate limits."""

from __future__ import annotations

import socket
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from laoyou.accounts.models import LoginCode, Person, RoleGrant
from laoyou.core import i18n
from laoyou.core.time import utcnow

from ..conftest import RESIDENT_XIUSHAN, graphql_client, make_database_url, make_settings, started
from .helpers import (
    count_rows,
    e164,
    login_with_code,
    request_code,
    sent_code,
    viewer,
    wrong_code,
)

NEW_PHONE = "13912345678"  # nobody in the demo has this number


@pytest.fixture
def clock(monkeypatch):  # noqa: ANN001, ANN201
    """Move the accounts service's clock: clock.advance(seconds)."""

    class Clock:
        offset = timedelta()

        def advance(self, seconds: float) -> None:
            self.offset += timedelta(seconds=seconds)

    clock = Clock()
    monkeypatch.setattr("laoyou.accounts.service.utcnow", lambda: utcnow() + clock.offset)
    return clock


@pytest.mark.parametrize("written", ["13812345678", "138 1234 5678", "+86 138-1234-5678", " 138-1234-5678 "])
async def test_phone_numbers_are_normalised(gql, app, db, written):
    # Given a number written the way people write it
    # When a code is asked for with it and used
    sent = await request_code(gql, written)
    # Then the SMS went to the one E.164 number and the code logs that number in
    assert sent["__typename"] == "LoginCodeSent", sent
    assert sent["maskedPhone"] == "138****5678"
    code = sent_code(app, "+8613812345678")
    result = await login_with_code(gql, "13812345678", code)
    assert result["__typename"] == "LoggedIn", result
    assert result["viewer"]["person"]["phone"] == "13812345678"
    assert await count_rows(db, Person, Person.phone == "+8613812345678") == 1


async def test_every_spelling_reaches_the_same_person(gql, app, db):
    # Given a person who logged in once with the plain number
    await request_code(gql, "13812345678")
    first = await login_with_code(gql, "13812345678", sent_code(app, "13812345678"))
    # When they log in again writing it with spaces and a country code
    await db.execute(update(LoginCode).values(created_at=utcnow() - timedelta(minutes=2)))
    await db.commit()
    assert (await request_code(gql, "+86 138-1234-5678"))["__typename"] == "LoginCodeSent"
    second = await login_with_code(gql, "138 1234 5678", sent_code(app, "13812345678"))
    # Then it is the same person
    assert second["viewer"]["person"]["id"] == first["viewer"]["person"]["id"]
    assert await count_rows(db, Person, Person.phone == "+8613812345678") == 1


@pytest.mark.parametrize(
    "malformed",
    ["", "12345", "1381234567", "138123456789", "02112345678", "abc", "+86 10 8888 6666", "1" * 40],
)
async def test_malformed_phone_is_refused_and_nothing_written(gql, app, db, malformed):
    # Given no codes yet
    codes, people, sms = (
        await count_rows(db, LoginCode),
        await count_rows(db, Person),
        len(app.state.sms.sent),
    )
    # When a code is asked for a malformed or non-mobile number
    result = await request_code(gql, malformed)
    # Then it is refused on the phone field and nothing is written or sent
    assert result["__typename"] == "LoginError"
    assert result["code"] == "INVALID_PHONE"
    assert result["field"] == "phone"
    assert await count_rows(db, LoginCode) == codes
    assert await count_rows(db, Person) == people
    assert len(app.state.sms.sent) == sms


async def test_login_with_malformed_phone_is_refused(gql):
    result = await login_with_code(gql, "12345", "123456")
    assert (result["__typename"], result["code"], result["field"]) == ("LoginError", "INVALID_PHONE", "phone")


async def test_code_login_end_to_end(gql, app, db):
    # Given a registered resident asks for a code
    sent = await request_code(gql, RESIDENT_XIUSHAN)
    assert sent == {
        "__typename": "LoginCodeSent",
        "maskedPhone": "138****0001",
        "expiresInSeconds": 300,
        "resendAfterSeconds": 60,
    }
    code = sent_code(app, RESIDENT_XIUSHAN)
    # When they type the code from the SMS
    result = await login_with_code(gql, RESIDENT_XIUSHAN, code)
    # Then they are logged in as themselves with their role
    assert result["__typename"] == "LoggedIn"
    assert result["viewer"]["person"]["name"] == "王秀英"
    assert [r["role"] for r in result["viewer"]["roles"]] == ["resident"]
    me = await viewer(gql.as_token(result["token"]))
    assert me["person"]["name"] == "王秀英"
    # And the code is spent: it does not work a second time
    again = await login_with_code(gql, RESIDENT_XIUSHAN, code)
    assert (again["__typename"], again["code"]) == ("LoginError", "INVALID_CODE")


async def test_the_sms_does_not_contain_the_code_in_storage(gql, app, db):
    # Given a code was sent
    await request_code(gql, RESIDENT_XIUSHAN)
    code = sent_code(app, RESIDENT_XIUSHAN)
    # Then the stored row holds a keyed hash, not the code
    row = (
        await db.exec(LoginCode.__table__.select().where(LoginCode.phone == e164(RESIDENT_XIUSHAN)))
    ).first()
    assert code not in row.code_hash
    assert len(row.code_hash) == 64


async def test_wrong_code_counts_attempts_and_says_tries_left(gql, app, db):
    # Given a code was sent
    await request_code(gql, RESIDENT_XIUSHAN)
    code = sent_code(app, RESIDENT_XIUSHAN)
    # When a wrong code is typed twice
    first = await login_with_code(gql, RESIDENT_XIUSHAN, wrong_code(code))
    second = await login_with_code(gql, RESIDENT_XIUSHAN, wrong_code(code))
    # Then each answer says how many tries are left, and the count is stored
    assert (first["__typename"], first["code"], first["field"]) == ("LoginError", "INVALID_CODE", "code")
    assert "4 tries left" in first["message"]
    assert "3 tries left" in second["message"]
    row = (
        await db.exec(LoginCode.__table__.select().where(LoginCode.phone == e164(RESIDENT_XIUSHAN)))
    ).first()
    assert row.attempts == 2
    # And the right code still works
    assert (await login_with_code(gql, RESIDENT_XIUSHAN, code))["__typename"] == "LoggedIn"


async def test_five_wrong_tries_spend_the_code(gql, app):
    # Given a code was sent and five wrong codes were typed
    await request_code(gql, RESIDENT_XIUSHAN)
    code = sent_code(app, RESIDENT_XIUSHAN)
    answers = [await login_with_code(gql, RESIDENT_XIUSHAN, wrong_code(code)) for _ in range(5)]
    assert [a["code"] for a in answers] == ["INVALID_CODE"] * 4 + ["TOO_MANY_ATTEMPTS"]
    # When the right code is typed
    result = await login_with_code(gql, RESIDENT_XIUSHAN, code)
    # Then it is refused: the code is spent
    assert (result["__typename"], result["code"]) == ("LoginError", "TOO_MANY_ATTEMPTS")


@pytest.mark.parametrize("malformed_code", ["12345", "1234567", "abcdef", ""])
async def test_malformed_code_is_refused_without_spending_a_try(gql, app, db, malformed_code):
    await request_code(gql, RESIDENT_XIUSHAN)
    result = await login_with_code(gql, RESIDENT_XIUSHAN, malformed_code)
    assert (result["code"], result["field"]) == ("INVALID_CODE", "code")
    row = (
        await db.exec(LoginCode.__table__.select().where(LoginCode.phone == e164(RESIDENT_XIUSHAN)))
    ).first()
    assert row.attempts == 0


async def test_expired_code_is_refused(gql, app, clock):
    # Given a code was sent
    await request_code(gql, RESIDENT_XIUSHAN)
    code = sent_code(app, RESIDENT_XIUSHAN)
    # When it is typed six minutes later
    clock.advance(6 * 60)
    result = await login_with_code(gql, RESIDENT_XIUSHAN, code)
    # Then it has expired
    assert (result["__typename"], result["code"]) == ("LoginError", "CODE_EXPIRED")


async def test_expired_code_by_row(gql, app, db):
    # Given a code whose row says it expired a second ago
    await request_code(gql, RESIDENT_XIUSHAN)
    code = sent_code(app, RESIDENT_XIUSHAN)
    await db.execute(update(LoginCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    # Then it does not log in
    assert (await login_with_code(gql, RESIDENT_XIUSHAN, code))["code"] == "CODE_EXPIRED"


async def test_a_new_code_replaces_the_old_one(gql, app, clock):
    # Given a code was sent, and a minute later another
    await request_code(gql, RESIDENT_XIUSHAN)
    old = sent_code(app, RESIDENT_XIUSHAN)
    clock.advance(61)
    await request_code(gql, RESIDENT_XIUSHAN)
    new = sent_code(app, RESIDENT_XIUSHAN)
    if old == new:
        pytest.skip("the two random codes happen to be equal")
    # Then only the newest works
    assert (await login_with_code(gql, RESIDENT_XIUSHAN, old))["code"] == "INVALID_CODE"
    assert (await login_with_code(gql, RESIDENT_XIUSHAN, new))["__typename"] == "LoggedIn"


async def test_unregistered_number_gets_the_same_answer(gql, app, db):
    # Given a registered number and one nobody has
    people = await count_rows(db, Person)
    registered = await request_code(gql, RESIDENT_XIUSHAN)
    stranger = await request_code(gql, NEW_PHONE)
    # Then both answers have the same shape and values, apart from the number itself
    assert registered.keys() == stranger.keys()
    assert {**registered, "maskedPhone": None} == {**stranger, "maskedPhone": None}
    assert stranger["maskedPhone"] == "139****5678"
    # And both got an SMS, and asking created nobody
    assert sent_code(app, NEW_PHONE)
    assert await count_rows(db, Person) == people


async def test_first_login_creates_the_person_with_no_roles(gql, app, db):
    # Given a number nobody has asks for a code
    await request_code(gql, NEW_PHONE)
    # When the code is used
    result = await login_with_code(gql, NEW_PHONE, sent_code(app, NEW_PHONE))
    # Then a person exists for the number, with no roles at all
    assert result["__typename"] == "LoggedIn", result
    assert result["viewer"]["roles"] == []
    person = (await db.exec(Person.__table__.select().where(Person.phone == e164(NEW_PHONE)))).first()
    assert person is not None
    assert await count_rows(db, RoleGrant, RoleGrant.person_id == person.id) == 0
    me = await viewer(gql.as_token(result["token"]))
    assert me == {
        "person": {"id": str(person.id), "name": "", "phone": NEW_PHONE},
        "isStaff": False,
        "roles": [],
    }


async def test_resend_within_a_minute_is_refused(gql, app, clock):
    # Given a code was just sent
    assert (await request_code(gql, RESIDENT_XIUSHAN))["__typename"] == "LoginCodeSent"
    sent = len(app.state.sms.sent)
    # When another is asked for 30 seconds later
    clock.advance(30)
    again = await request_code(gql, RESIDENT_XIUSHAN)
    # Then it is refused and no SMS goes out
    assert (again["__typename"], again["code"]) == ("LoginError", "RATE_LIMITED")
    assert "wait a minute" in again["message"]
    assert len(app.state.sms.sent) == sent
    # And after the minute it is sent
    clock.advance(31)
    assert (await request_code(gql, RESIDENT_XIUSHAN))["__typename"] == "LoginCodeSent"


async def test_more_than_five_codes_an_hour_per_phone_are_refused(gql, app, db, clock):
    # Given five codes were sent to one number within the hour, a minute apart
    for _ in range(5):
        assert (await request_code(gql, RESIDENT_XIUSHAN))["__typename"] == "LoginCodeSent"
        clock.advance(61)
    # When a sixth is asked for
    sixth = await request_code(gql, RESIDENT_XIUSHAN)
    # Then it is refused, and nothing is written
    assert (sixth["__typename"], sixth["code"]) == ("LoginError", "RATE_LIMITED")
    assert "in an hour" in sixth["message"]
    assert await count_rows(db, LoginCode, LoginCode.phone == e164(RESIDENT_XIUSHAN)) == 5
    # And another number from the same address is not affected
    assert (await request_code(gql, NEW_PHONE))["__typename"] == "LoginCodeSent"
    # And an hour later the number may ask again
    clock.advance(3600)
    assert (await request_code(gql, RESIDENT_XIUSHAN))["__typename"] == "LoginCodeSent"


@pytest.fixture(scope="module")
async def deployment(backend, tmp_path_factory, request):  # noqa: ANN001, ANN201
    """One fresh database served three ways: as usual, allowing three codes an hour per address, and with
    an SMS gateway that refuses every connection."""
    tmp = tmp_path_factory.mktemp(f"login-codes-{backend}")
    url = make_database_url(backend, tmp, request)
    with socket.socket() as closed:  # bound but never listening: a connection to it is refused at once
        closed.bind(("127.0.0.1", 0))
        gateway = f"http://127.0.0.1:{closed.getsockname()[1]}/v1/sms"
        async with (
            started(make_settings(tmp, url)) as usual,
            started(make_settings(tmp, url, login_codes_per_ip_hour=3)) as limited,
            started(
                make_settings(
                    tmp, url, sms_backend="http", sms_gateway_url=gateway, sms_gateway_token="token"
                )
            ) as unreachable,
        ):
            yield SimpleNamespace(usual=usual, limited=limited, unreachable=unreachable)


async def test_codes_per_client_address_are_limited(deployment):
    # Given one address may ask for three codes an hour
    limited = deployment.limited
    async with graphql_client(limited, "10.1.0.1") as gql:
        # When it asks for codes for four different numbers
        answers = [await request_code(gql, f"1391111000{i}") for i in range(4)]
    # Then the fourth is refused and was not sent
    assert [a["__typename"] for a in answers] == ["LoginCodeSent"] * 3 + ["LoginError"]
    assert answers[3]["code"] == "RATE_LIMITED"
    assert limited.state.sms.last_to("+8613911110003") is None
    async with limited.state.sessionmaker() as session:
        assert await count_rows(session, LoginCode, LoginCode.client_ip == "10.1.0.1") == 3


async def test_another_address_is_not_limited_by_the_first(deployment):
    async with (
        graphql_client(deployment.limited, "10.1.0.2") as first,
        graphql_client(deployment.limited, "10.1.0.3") as second,
    ):
        for i in range(3):
            assert (await request_code(first, f"1392222000{i}"))["__typename"] == "LoginCodeSent"
        assert (await request_code(first, "13922220003"))["code"] == "RATE_LIMITED"
        assert (await request_code(second, "13922220003"))["__typename"] == "LoginCodeSent"


async def test_an_sms_that_cannot_be_sent_says_so_and_spends_nothing(deployment, clock):
    # Given a resident with a code that still works
    async with (
        graphql_client(deployment.usual) as usual,
        graphql_client(deployment.unreachable) as unreachable,
    ):
        await request_code(usual, RESIDENT_XIUSHAN)
        working = sent_code(deployment.usual, RESIDENT_XIUSHAN)
        async with deployment.usual.state.sessionmaker() as session:
            codes = await count_rows(session, LoginCode, LoginCode.phone == e164(RESIDENT_XIUSHAN))
        clock.advance(61)

        # When the next request goes to an SMS gateway that cannot be reached
        failed = await request_code(unreachable, RESIDENT_XIUSHAN)

        # Then the resident is told plainly (in Chinese too), and nothing was spent or written
        message = "The text message could not be sent just now. Please try again in a minute."
        assert (failed["__typename"], failed["code"]) == ("LoginError", "GATEWAY_ERROR")
        assert failed["message"] == message
        assert i18n.gettext(message, "zh_CN") == "短信暂时发不出去，请过一分钟再试。"
        async with deployment.usual.state.sessionmaker() as session:
            assert await count_rows(session, LoginCode, LoginCode.phone == e164(RESIDENT_XIUSHAN)) == codes
        assert (await login_with_code(usual, RESIDENT_XIUSHAN, working))["__typename"] == "LoggedIn"
