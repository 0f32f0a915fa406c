"""Sensor events through a real Mosquitto started by the test: a leak becomes one emergency work order, the fall
button an SOS; a forged topic, a message naming another household and a wrong password change nothing; a burst
of 100 identical alarms is one work order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import func, select

from laoyou.care.sensors import listener
from laoyou.care.sensors import service as sensors
from laoyou.care.sensors.models import SensorEvent
from laoyou.support.models import SosAlert
from laoyou.tickets.models import WorkOrder

from ..mqtt import Mosquitto
from .helpers import RESIDENT_XIUSHAN, home_of, other_home, register

LOGGER = "laoyou.care.sensors"


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.stop()


async def until(condition: Any, what: str, seconds: float = 10.0) -> None:
    """Wait for the listener, which works in its own task, to have done something (never decides the outcome)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def handled(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.getMessage().startswith("MQTT: ")
    ]


@contextlib.asynccontextmanager
async def listening(app: Any, broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """Laoyou's subscriber, as the worker runs it, until the block ends."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    settings = app.state.settings.model_copy(update={"mqtt_url": broker.url})
    stop = asyncio.Event()
    task = asyncio.create_task(listener.listen(settings, app.state.sessionmaker, app.state.pubsub, stop))
    try:
        await until(lambda: "MQTT: listening to the sensors" in handled(caplog), "the subscription")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


@contextlib.asynccontextmanager
async def device(broker: Mosquitto, username: str, password: str) -> AsyncIterator[aiomqtt.Client]:
    """A device's connection; the broker may still be reading its new password file, so a refusal is retried."""
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        client = aiomqtt.Client("127.0.0.1", broker.port, username=username, password=password)
        try:
            await client.__aenter__()
            break
        except aiomqtt.MqttError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)
    try:
        yield client
    finally:
        await client.__aexit__(None, None, None)


async def registered(
    gql: Any, db: Any, broker: Mosquitto, grant: Any, code: str, kind: str
) -> dict[str, Any]:
    """Register through the API, then give the broker the new password file, as the operator's command does."""
    result = await register(gql, grant, code, kind)
    broker.reload(await sensors.password_file(db))
    return result


async def count(db: Any, model: Any, *where: Any) -> int:
    return await db.scalar(select(func.count()).select_from(model).where(*where))


async def test_a_leak_becomes_one_emergency_work_order(app, gql, db, mosquitto, caplog):
    # Given a water-leak sensor registered to the resident's home
    home = await home_of(db, RESIDENT_XIUSHAN)
    leak = await registered(gql, db, mosquitto, home, "LY-WL-1001", "WATER_LEAK")
    username, password = leak["device"]["mqttUsername"], leak["mqttPassword"]
    orders_before = await count(db, WorkOrder, WorkOrder.household_id == home.household_id)
    async with listening(app, mosquitto, caplog):
        # When it reports a leak on its own topic
        async with device(mosquitto, username, password) as client:
            await client.publish(leak["device"]["topic"], json.dumps({"event": "leak", "id": "e-1"}), qos=1)
        await until(lambda: len(handled(caplog)) >= 2, "the leak to be handled")
    # Then one emergency work order is open for the home, and the steward was paged
    assert "MQTT: work_order from" in handled(caplog)[-1]
    order = (
        await db.exec(
            select(WorkOrder).where(WorkOrder.household_id == home.household_id).order_by(WorkOrder.id.desc())
        )
    ).first()[0]
    assert await count(db, WorkOrder, WorkOrder.household_id == home.household_id) == orders_before + 1
    assert (order.category, order.urgency, order.is_open) == ("flooding", "emergency", True)
    assert order.client_id.startswith("sensor-")


async def test_a_burst_of_100_identical_alarms_is_one_work_order(app, gql, db, mosquitto, caplog):
    home = await home_of(db, RESIDENT_XIUSHAN)
    leak = await registered(gql, db, mosquitto, home, "LY-WL-1002", "WATER_LEAK")
    async with listening(app, mosquitto, caplog):
        # When the sensor sends the same alarm 100 times in a few seconds, without an event id
        async with device(mosquitto, leak["device"]["mqttUsername"], leak["mqttPassword"]) as client:
            for _ in range(100):
                await client.publish(leak["device"]["topic"], json.dumps({"event": "leak"}), qos=1)
        await until(lambda: len(handled(caplog)) >= 101, "all 100 messages", seconds=60)
    outcomes = [m.split(" ")[1] for m in handled(caplog)[1:]]
    # Then one work order; the other 99 were repeats
    assert outcomes.count("work_order") == 1 and outcomes.count("repeat") == 99
    events = await count(db, SensorEvent, SensorEvent.household_id == home.household_id)
    assert events == 1


async def test_the_fall_button_raises_an_sos(app, gql, db, mosquitto, caplog):
    home = await home_of(db, RESIDENT_XIUSHAN)
    button = await registered(gql, db, mosquitto, home, "LY-FB-2001", "FALL_BUTTON")
    before = await count(db, SosAlert, SosAlert.household_id == home.household_id)
    async with listening(app, mosquitto, caplog):
        async with device(mosquitto, button["device"]["mqttUsername"], button["mqttPassword"]) as client:
            await client.publish(
                button["device"]["topic"], json.dumps({"event": "press", "id": "p-1"}), qos=1
            )
        await until(lambda: len(handled(caplog)) >= 2, "the press")
    assert "MQTT: sos from" in handled(caplog)[-1]
    assert await count(db, SosAlert, SosAlert.household_id == home.household_id) == before + 1


async def test_a_forged_topic_or_another_households_name_changes_nothing(app, gql, db, mosquitto, caplog):
    # Given a sensor in one home and a sensor in the neighbour's
    home = await home_of(db, RESIDENT_XIUSHAN)
    neighbour = await other_home(db, home)
    mine = await register(gql, home, "LY-WL-3001", "WATER_LEAK")
    theirs = await registered(gql, db, mosquitto, neighbour, "LY-WL-3002", "WATER_LEAK")
    orders = await count(
        db, WorkOrder, WorkOrder.household_id.in_([home.household_id, neighbour.household_id])
    )
    async with listening(app, mosquitto, caplog):
        async with device(mosquitto, mine["device"]["mqttUsername"], mine["mqttPassword"]) as client:
            # When my device publishes on the neighbour's device's topic (the broker's ACL drops it)
            await client.publish(theirs["device"]["topic"], json.dumps({"event": "leak"}), qos=1)
            # and on its own topic a message naming the neighbour's household (Laoyou refuses it)
            forged = {"event": "leak", "household": neighbour.household_id}
            await client.publish(mine["device"]["topic"], json.dumps(forged), qos=1)
        await until(lambda: len(handled(caplog)) >= 2, "the forged message")
    # Then only the second message reached Laoyou, it was refused and logged, and no work order was made
    assert [m.split(" ")[1] for m in handled(caplog)[1:]] == ["refused"]
    assert any("names household" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert (
        await count(db, WorkOrder, WorkOrder.household_id.in_([home.household_id, neighbour.household_id]))
        == orders
    )


async def test_wrong_credentials_cannot_publish(gql, db, mosquitto):
    home = await home_of(db, RESIDENT_XIUSHAN)
    leak = await registered(gql, db, mosquitto, home, "LY-WL-4001", "WATER_LEAK")
    async with device(mosquitto, leak["device"]["mqttUsername"], leak["mqttPassword"]):
        pass  # the right password logs in
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username=leak["device"]["mqttUsername"], password="guessed"
        ):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port):
            pass  # nor anonymously


async def test_the_logins_laoyou_writes_let_it_in_and_no_one_else(tmp_path):
    # Given the password file and ACL written by `laoyou mqtt-logins` (no mosquitto_passwd involved)
    from ..test_cli import laoyou

    broker = Mosquitto()
    url = f"mqtt://laoyou:s3cret-pass@127.0.0.1:{broker.port}"
    written = laoyou("mqtt-logins", str(tmp_path / "auth"), data_dir=tmp_path, LAOYOU_MQTT_URL=url)
    assert written.returncode == 0, written.stderr
    assert "pattern write laoyou/%u/#" in (tmp_path / "auth" / "acl").read_text()
    broker.start(logins=tmp_path / "auth")
    try:
        # Then Laoyou logs in with the URL's password, and a wrong one is refused
        async with listener.client_for(url):
            pass
        with pytest.raises(aiomqtt.MqttError):
            async with listener.client_for(url.replace("s3cret-pass", "guess")):
                pass
    finally:
        broker.stop()


async def test_the_subscriber_waits_for_a_broker_that_is_away(app, db, caplog):
    # Given a broker that is not running yet
    broker = Mosquitto()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    settings = app.state.settings.model_copy(update={"mqtt_url": broker.url})
    stop = asyncio.Event()
    task = asyncio.create_task(listener.listen(settings, app.state.sessionmaker, app.state.pubsub, stop))
    try:
        # When the subscriber starts, it says so and tries again later
        await until(lambda: any("trying again" in m for m in handled(caplog)), "the first refusal")
        # and once the broker is up, it subscribes
        broker.start()
        await until(lambda: "MQTT: listening to the sensors" in handled(caplog), "the subscription")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        broker.stop()
    # Sensors off: nothing at all
    off = app.state.settings.model_copy(update={"mqtt_url": ""})
    await asyncio.wait_for(listener.listen(off, app.state.sessionmaker, app.state.pubsub, stop), timeout=1)
