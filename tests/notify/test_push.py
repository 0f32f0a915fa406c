"""Web push end to end: devices register, events write the outbox in their own transaction, the sender
encrypts and signs real requests that a stand-in push service decrypts (http_ece) and verifies (VAPID)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.core.settings import Settings
from laoyou.core.time import as_utc, utcnow
from laoyou.graphql.types import decode_id
from laoyou.notify import sender as sender_module
from laoyou.notify.models import PushOutbox, PushSubscription
from laoyou.notify.sender import PushSender, make_http_client
from laoyou.notify.vapid import load_or_create_private_key, public_key_b64, signer_for

from ..briefings.helpers import community_ids, post_briefing
from ..conftest import (
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from .standin import PushStandIn, serve

REGISTER = """
mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth) {
    __typename ... on PushDeviceSaved { devices } ... on Error { field message code }
  }
}
"""
REMOVE = "mutation ($endpoint: String!) { removePushSubscription(endpoint: $endpoint) { __typename ... on PushDeviceSaved { devices } } }"
SETTINGS = "query { pushSettings { publicKey devices preferences { kind enabled } } }"
PREFERENCES = """
mutation ($preferences: [PushPreferenceInput!]!) {
  setPushPreferences(preferences: $preferences) { __typename ... on PushPreferencesSaved { preferences { kind enabled } } }
}
"""
EMERGENCY = """
mutation ($ids: [ID!]!, $kind: EmergencyKind!, $title: String!, $body: String) {
  sendEmergencyNotice(communityIds: $ids, kind: $kind, title: $title, body: $body) {
    __typename ... on EmergencyNoticeSent { peopleNotified } ... on Error { field message code }
  }
}
"""


@pytest.fixture
async def standin():  # noqa: ANN201
    async with serve(PushStandIn()) as served:
        yield served


@pytest.fixture
async def sender(app, db, standin):  # noqa: ANN001, ANN201
    """The sender as production makes it (its own aiohttp session), reaching the stand-in over loopback."""
    standin.vapid_public_key = app.state.vapid.public_key
    made = PushSender(
        sessionmaker=app.state.sessionmaker,
        signer=app.state.vapid,
        concurrency=8,
        http=make_http_client(ssl=standin.ssl_context),
    )
    yield made
    await made.aclose()


async def register(client, standin: PushStandIn):  # noqa: ANN001, ANN201
    device = standin.new_device()
    result = (await client(REGISTER, device.keys))["data"]["registerPushSubscription"]
    assert result["__typename"] == "PushDeviceSaved", result
    return device


async def outbox(db) -> list[PushOutbox]:  # noqa: ANN001
    db.expire_all()  # the sender wrote through its own sessions
    return list(await db.exec(select(PushOutbox).order_by(PushOutbox.id)))


async def test_a_briefing_reaches_each_device_once_encrypted_and_signed(gql, db, sender, standin):
    # Given a resident with two phones and her son with one, all with notifications on
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    phones = [
        await register(resident, standin),
        await register(resident, standin),
        await register(family, standin),
    ]
    assert (await resident(SETTINGS))["data"]["pushSettings"]["devices"] == 2
    # When the steward publishes a briefing
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    posted = await post_briefing(
        steward, [(await community_ids(steward))["秀山花园"]], title="今日工作简报：清扫完毕"
    )
    # Then the outbox holds one row per device, written with the briefing
    rows = await outbox(db)
    assert (
        len(rows) == 3 and {r.status for r in rows} == {"pending"} and len({r.event_key for r in rows}) == 1
    )
    # When the sender runs (twice)
    stats = await sender.drain()
    again = await sender.drain()
    # Then each phone got exactly one request, which decrypts to the briefing, with the kind's headers
    assert stats.sent == 3 and again.handled == 0
    for phone in phones:
        [request] = standin.for_device(phone)
        assert request.payload["title"] == "今日工作简报：清扫完毕"
        assert request.payload["url"] == f"/briefings/{posted['id']}"
        assert request.headers["content-encoding"] == "aes128gcm"
        assert request.headers["ttl"] == "86400"
        assert request.headers["urgency"] == "normal"
        assert request.headers["topic"] == "briefings"
        assert request.jwt_claims["aud"] == standin.origin  # the push service's origin, no path
    assert {r.status for r in await outbox(db)} == {"sent"}


async def test_gone_devices_are_removed_and_their_queue_dropped(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    gone = await register(resident, standin)
    missing = await register(resident, standin)
    kept = await register(resident, standin)
    standin.answer(gone, 410)
    standin.answer(missing, 404)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    person_id = person.id
    await accounts.do_notify(
        db, person_id=person_id, kind="bill_issued", title="本月物业费账单", link="/bills"
    )
    await db.commit()
    stats = await sender.drain()
    assert stats.sent == 1 and stats.gone == 2
    db.expire_all()
    left = {
        s.endpoint
        for s in await db.exec(select(PushSubscription).where(PushSubscription.person_id == person_id))
    }
    assert left == {kept.endpoint}
    bill = standin.for_device(kept)[0]
    assert bill.headers["topic"] == "bills" and bill.headers["ttl"] == str(3 * 24 * 3600)


async def test_429_waits_for_retry_after_and_5xx_backs_off_then_gives_up(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    busy = await register(resident, standin)
    broken = await register(resident, standin)
    standin.answer(busy, (429, {"Retry-After": "120"}))
    standin.answer(broken, *([503] * 10))
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    await accounts.do_notify(db, person_id=person.id, kind="work_order_done", title="报修已完成", link="/")
    await db.commit()
    # First round: both are put back, the 429 one no sooner than Retry-After says
    before = utcnow()
    stats = await sender.drain()
    assert stats.retried == 2 and stats.sent == 0
    rows = {r.subscription_id: r for r in await outbox(db)}
    busy_row = next(r for r in rows.values() if r.status == "pending" and r.last_status == 429)
    assert as_utc(busy_row.next_attempt_at) >= before + timedelta(seconds=120)
    # Nothing is due yet, so nothing is sent
    assert (await sender.drain()).handled == 0
    # When time comes, the busy one succeeds and the broken one keeps failing until it is given up
    for _ in range(sender_module.MAX_ATTEMPTS + 1):
        await db.exec(
            update(PushOutbox).where(PushOutbox.status == "pending").values(next_attempt_at=utcnow())
        )
        await db.commit()
        await sender.drain()
    statuses = {r.last_status: r.status for r in await outbox(db)}
    assert statuses[201] == "sent"
    assert statuses[503] == "failed"
    assert len(standin.for_device(busy)) == 2
    assert len(standin.for_device(broken)) == sender_module.MAX_ATTEMPTS


async def test_nothing_is_sent_for_an_event_that_was_rolled_back(gql, db, app, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await register(resident, standin)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    async with app.state.sessionmaker() as session:
        await accounts.do_notify(session, person_id=person.id, kind="bill_issued", title="不会发出")
        await session.rollback()
    assert await outbox(db) == []
    assert (await sender.drain()).handled == 0 and standin.received == []


async def test_claims_are_guarded(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await register(resident, standin)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    await accounts.do_notify(db, person_id=person.id, kind="chat_reply", title="客服回复了您")
    await db.commit()
    first, second = await sender.claim(), await sender.claim()
    assert len(first) == 1 and second == []
    # The outbox key refuses a second row for the same event and device
    row = (await outbox(db))[0]
    db.add(
        PushOutbox(
            event_key=row.event_key,
            subscription_id=row.subscription_id,
            person_id=row.person_id,
            kind=row.kind,
            payload=row.payload,
        )
    )
    with pytest.raises(IntegrityError):
        await db.flush()
    await db.rollback()


async def test_preferences_switch_kinds_off_but_emergencies_go_out_urgently(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    phone = await register(resident, standin)
    saved = await resident(PREFERENCES, {"preferences": [{"kind": "BRIEFINGS", "enabled": False}]})
    prefs = {p["kind"]: p["enabled"] for p in saved["data"]["setPushPreferences"]["preferences"]}
    assert prefs["BRIEFINGS"] is False and prefs["EMERGENCIES"] is True
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    await post_briefing(steward, [xiushan])
    assert await outbox(db) == []
    sent = (
        await steward(
            EMERGENCY,
            {
                "ids": [xiushan],
                "kind": "WATER_CUT",
                "title": "明天上午停水",
                "body": "8点到12点停水，请提前储水。",
            },
        )
    )["data"]["sendEmergencyNotice"]
    assert sent["__typename"] == "EmergencyNoticeSent" and sent["peopleNotified"] > 1
    await sender.drain()
    [request] = standin.for_device(phone)
    assert request.headers["urgency"] == "high" and "topic" not in request.headers
    assert request.payload["title"] == "明天上午停水"


async def test_strangers_cannot_send_emergencies_or_remove_others_devices(gql, db, standin):
    xiushan_steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(xiushan_steward))["秀山花园"]
    other = await login_demo(gql, STEWARD_YUEYANG)
    denied = await other(
        EMERGENCY, {"ids": [xiushan], "kind": "TYPHOON", "title": "台风"}, expect_errors=True
    )
    assert denied["errors"][0]["message"] == "Not found."
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (
        await resident(EMERGENCY, {"ids": [xiushan], "kind": "TYPHOON", "title": "台风"}, expect_errors=True)
    )["errors"]
    phone = await register(resident, standin)
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    await stranger(REMOVE, {"endpoint": phone.endpoint})
    assert (await resident(SETTINGS))["data"]["pushSettings"]["devices"] == 1
    bad = (await resident(REGISTER, {**phone.keys, "endpoint": "http://insecure.test/x"}))["data"]
    assert bad["registerPushSubscription"]["field"] == "endpoint"
    anonymous = gql.as_token(None)
    assert (await anonymous(SETTINGS, expect_errors=True))["errors"]


async def test_vapid_keys_are_made_once_and_kept_or_taken_from_settings(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, public_url="https://laoyou.example.cn")
    first = load_or_create_private_key(settings)
    assert (tmp_path / "vapid" / "private_key.pem").stat().st_mode & 0o777 == 0o600
    assert public_key_b64(load_or_create_private_key(settings)) == public_key_b64(first)
    pem = (tmp_path / "vapid" / "private_key.pem").read_text()
    given = Settings(
        data_dir=tmp_path / "other", vapid_private_key=pem, vapid_subject="mailto:ops@example.cn"
    )
    signer = signer_for(given)
    assert signer.public_key == public_key_b64(first) and signer.subject == "mailto:ops@example.cn"
    # One token per push origin, reused
    assert signer.authorization("https://push.test/a") == signer.authorization("https://push.test/b")
    assert signer.authorization("https://push.test/a") != signer.authorization("https://fcm.test/a")
    with pytest.raises(ValueError):
        load_or_create_private_key(
            Settings(data_dir=tmp_path, vapid_private_key=pem, vapid_public_key="AAAA")
        )


async def test_push_settings_offer_the_public_key(gql, db, app):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    data = (await resident(SETTINGS))["data"]["pushSettings"]
    assert data["publicKey"] == app.state.vapid.public_key
    assert [p["kind"] for p in data["preferences"]] == [
        "BRIEFINGS",
        "BILLS",
        "WORK_ORDERS",
        "CHAT",
        "EMERGENCIES",
    ]


async def test_a_sender_that_dies_mid_batch_resends_only_the_request_in_flight(app, gql, db, standin):
    standin.vapid_public_key = app.state.vapid.public_key
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    quick, slow = await register(resident, standin), await register(resident, standin)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    await post_briefing(steward, [(await community_ids(steward))["秀山花园"]], title="今日简报")
    # Given a sender whose request to one phone hangs while the other phone's is answered 201
    reached, _release = standin.hold(slow)
    dying = PushSender(
        sessionmaker=app.state.sessionmaker,
        signer=app.state.vapid,
        concurrency=8,
        http=make_http_client(ssl=standin.ssl_context),
    )
    recorded = asyncio.Event()
    record = dying.record

    async def record_and_tell(results, stats):  # noqa: ANN001, ANN202
        await record(results, stats)
        recorded.set()

    dying.record = record_and_tell
    task = asyncio.create_task(dying.drain())
    await asyncio.wait_for(reached.wait(), 10)
    # (the answered row is written without waiting for the rest of the batch)
    await asyncio.wait_for(recorded.wait(), 10)
    # When the sender dies there (its process is killed: the task is cancelled mid-request)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await dying.aclose()
    rows = {r.subscription_id: r for r in await outbox(db)}
    subscriptions = {s.endpoint: s.id for s in await db.exec(select(PushSubscription))}
    # Then the answered phone's row is already marked sent, the other still held by the dead claim
    assert rows[subscriptions[quick.endpoint]].status == "sent"
    assert rows[subscriptions[slow.endpoint]].status == "sending"
    # When its claim goes stale and another sender runs
    await db.exec(
        update(PushOutbox).values(claimed_at=utcnow() - sender_module.STALE_CLAIM - timedelta(seconds=1))
    )
    await db.commit()
    heir = PushSender(
        sessionmaker=app.state.sessionmaker,
        signer=app.state.vapid,
        http=make_http_client(ssl=standin.ssl_context),
    )
    stats = await heir.drain()
    await heir.aclose()
    # Then only the request that was in flight goes out again
    assert stats.sent == 1
    assert len(standin.for_device(quick)) == 1 and len(standin.for_device(slow)) == 1
    assert {r.status for r in await outbox(db)} == {"sent"}


async def test_a_late_sender_cannot_overwrite_the_row_another_sender_reclaimed(app, gql, db, standin, sender):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await register(resident, standin)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    await accounts.do_notify(db, person_id=person.id, kind="chat_reply", title="客服回复了您")
    await db.commit()
    # Given a slow sender's claim that went stale, and a second sender that claimed the row again and sent it
    [late] = await sender.claim()
    await db.exec(
        update(PushOutbox).values(claimed_at=utcnow() - sender_module.STALE_CLAIM - timedelta(seconds=1))
    )
    await db.commit()
    assert (await sender.drain()).sent == 1
    # When the slow sender finally records a 503 for its old claim
    await sender.record([(late, 503, None)], sender_module.DrainStats())
    # Then the row stays sent: the old lease no longer holds it
    [row] = await outbox(db)
    assert row.status == "sent" and row.last_status == 201 and row.lease != late.lease


async def test_encryption_runs_in_processes_that_are_kept_and_shut_down_on_close(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    phone = await register(resident, standin)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    # Given a sender that has not sent anything: no processes yet
    assert sender._pool is None
    # When it delivers two events, one drain after the other
    for title in ("账单一", "账单二"):
        await accounts.do_notify(db, person_id=person.id, kind="bill_issued", title=title)
        await db.commit()
        assert (await sender.drain()).sent == 1
        if title == "账单一":
            pool = sender._pool
            processes = list(pool._processes.values())
            # (encrypted in another process, decrypted by the stand-in: checked for every request it gets)
            assert processes and all(p.pid != os.getpid() and p.is_alive() for p in processes)
    # Then the same processes did both, and closing the sender ends them
    assert sender._pool is pool
    assert [r.payload["title"] for r in standin.for_device(phone)] == ["账单一", "账单二"]
    await sender.aclose()
    assert sender._pool is None and not any(p.is_alive() for p in processes)


async def test_a_killed_encryption_process_loses_nothing(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    phone = await register(resident, standin)
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    # Given a sender whose idle encryption process was killed (out of memory, say)
    await sender.start()
    killed = sender._pool
    for process in list(killed._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
        process.join(5)
    await accounts.do_notify(db, person_id=person.id, kind="bill_issued", title="第一条")
    await db.commit()
    # Then the next drain starts new processes and delivers
    assert (await sender.drain()).sent == 1
    assert sender._pool is not killed
    # Given processes that die while they encrypt
    sender._pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=os._exit, initargs=(1,)
    )
    await accounts.do_notify(db, person_id=person.id, kind="bill_issued", title="第二条")
    await db.commit()
    # Then the message is put back for a retry (not left claimed) and the broken pool is let go
    stats = await sender.drain()
    assert stats.retried == 1 and stats.sent == 0 and sender._pool is None
    row = (await outbox(db))[-1]
    assert row.status == "pending" and row.last_status == 0
    # And the retry goes out through new processes
    await db.exec(update(PushOutbox).values(next_attempt_at=utcnow()))
    await db.commit()
    assert (await sender.drain()).sent == 1
    assert [r.payload["title"] for r in standin.for_device(phone)] == ["第一条", "第二条"]


async def test_a_device_whose_keys_cannot_be_used_fails_alone(gql, db, sender, standin):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    good, bad = await register(resident, standin), await register(resident, standin)
    # Given a device whose stored key is not a point on the curve (registration checks keys; this one slipped by)
    await db.exec(
        update(PushSubscription)
        .where(PushSubscription.endpoint == bad.endpoint)
        .values(p256dh="BA" + "A" * 85)
    )
    await db.commit()
    person = await accounts.person_by_phone(db, "+86" + RESIDENT_XIUSHAN)
    await accounts.do_notify(db, person_id=person.id, kind="bill_issued", title="本月物业费账单")
    await db.commit()
    # When the sender runs
    stats = await sender.drain()
    # Then the other phone is reached and the bad one's row fails for good, with no request sent
    assert stats.sent == 1 and stats.failed == 1
    assert len(standin.for_device(good)) == 1 and standin.for_device(bad) == []
    subscriptions = {s.id: s.endpoint for s in await db.exec(select(PushSubscription))}
    rows = {subscriptions[r.subscription_id]: r for r in await outbox(db)}
    assert (
        rows[bad.endpoint].status == "failed"
        and rows[bad.endpoint].last_status == sender_module.UNENCRYPTABLE
    )
    assert rows[good.endpoint].status == "sent"


@pytest.fixture
def published(app, monkeypatch) -> list[str]:  # noqa: ANN001
    """The channels the app publishes to, in order (its pub/sub, watched)."""
    channels: list[str] = []
    publish = app.state.pubsub.publish

    async def watched(channel: str, message: dict) -> None:
        channels.append(channel)
        await publish(channel, message)

    monkeypatch.setattr(app.state.pubsub, "publish", watched)
    return channels


async def test_a_notice_to_a_community_is_announced_once_there_not_once_per_person(gql, db, published):  # noqa: ANN001
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    # When the steward warns 秀山花园
    sent = (await steward(EMERGENCY, {"ids": [xiushan], "kind": "LIFT_OUT", "title": "3号楼电梯停运"}))[
        "data"
    ]
    assert sent["sendEmergencyNotice"]["peopleNotified"] > 1
    # Then its live subscribers hear of it through one event on the community's channel, none per person
    assert [c for c in published if c.startswith(("notices:", "notifications:"))] == [
        accounts.community_notices_channel(decode_id(xiushan))
    ]


async def test_a_briefing_is_announced_once_per_community_not_once_per_person(gql, db, published):  # noqa: ANN001
    from ..briefings.helpers import post_briefing

    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    # When the steward publishes today's briefing to 秀山花园
    assert (await post_briefing(steward, [xiushan]))["status"] == "PUBLISHED"
    # Then residents' live counts hear of it through the community's channel only
    assert [c for c in published if c.startswith(("notices:", "notifications:"))] == [
        accounts.community_notices_channel(decode_id(xiushan))
    ]
