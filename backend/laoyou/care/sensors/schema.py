"""GraphQL for home sensors and shared-area cameras: staff list and register them; residents see neither."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from laoyou.care.sensors import service as sensors
from laoyou.care.sensors.models import CommunityCamera as CameraRow
from laoyou.care.sensors.models import ConsentMethod as ConsentValue
from laoyou.care.sensors.models import SensorDevice as DeviceRow
from laoyou.care.sensors.models import SensorKind as KindValue
from laoyou.core import i18n
from laoyou.core.phone import mask_phone
from laoyou.core.time import as_utc
from laoyou.estates.schema import Household, HouseholdMember
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsStaff
from laoyou.graphql.types import decode_id, encode_id

SensorKind = strawberry.enum(Enum("SensorKind", {v.name.upper(): v.value for v in KindValue}))
ConsentMethod = strawberry.enum(Enum("ConsentMethod", {v.name.upper(): v.value for v in ConsentValue}))


@strawberry.type(description="A sensor in a home, registered with a resident's consent.")
class SensorDevice:
    row: strawberry.Private[DeviceRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="The code printed on the device.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def kind(self) -> SensorKind:
        return SensorKind(self.row.kind)

    @strawberry.field(description="What kind of device, in the reader's language.")
    def kind_name(self, info: Info) -> str:
        return i18n.gettext(sensors.KIND_NAMES[KindValue(self.row.kind)], info.context.language)

    @strawberry.field(description="Where in the home, in the steward's words.")
    def label(self) -> str:
        return self.row.label

    @strawberry.field(description="The MQTT topic it publishes to.")
    def topic(self) -> str:
        return sensors.device_topic(self.row)

    @strawberry.field
    def mqtt_username(self) -> str:
        return self.row.mqtt_username

    @strawberry.field
    async def household(self, info: Info) -> Household:
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))

    @strawberry.field(description="Who in the home agreed to it.")
    async def consent_by(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.consent_person_id)
        return person.name if person is not None else ""

    @strawberry.field
    def consent_method(self) -> ConsentMethod:
        return ConsentMethod(self.row.consent_method)

    @strawberry.field
    def has_consent_photo(self) -> bool:
        return self.row.consent_photo_id is not None

    @strawberry.field
    def consented_at(self) -> datetime:
        return as_utc(self.row.consented_at)

    @strawberry.field
    def registered_at(self) -> datetime:
        return as_utc(self.row.registered_at)

    @strawberry.field(description="A door: hours shut before the steward is told.")
    def no_activity_hours(self) -> int:
        return self.row.no_activity_hours

    @strawberry.field(description="A door: when it was last opened.")
    def last_activity_at(self) -> datetime | None:
        return as_utc(self.row.last_activity_at) if self.row.last_activity_at else None

    @strawberry.field(description="When it last called for help.")
    def last_alarm_at(self) -> datetime | None:
        return as_utc(self.row.last_alarm_at) if self.row.last_alarm_at else None


@strawberry.type(description="A camera over a shared area of a community; staff only.")
class CommunityCamera:
    row: strawberry.Private[CameraRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="The https link to its snapshot or stream.")
    def url(self) -> str:
        return self.row.url


@strawberry.type(description="The device and its MQTT credentials, shown this once.")
class SensorDeviceRegistered:
    device: SensorDevice
    mqtt_password: str


@strawberry.type
class SensorDeviceSaved:
    device: SensorDevice


@strawberry.type
class CommunityCameraSaved:
    camera: CommunityCamera


SensorError = error_type("SensorError")
RegisterSensorResult = result_union("RegisterSensorResult", SensorDeviceRegistered, SensorError)
SensorDeviceResult = result_union("SensorDeviceResult", SensorDeviceSaved, SensorError)
CameraError = error_type("CameraError")
CommunityCameraResult = result_union("CommunityCameraResult", CommunityCameraSaved, CameraError)


@strawberry.input
class RegisterSensorInput:
    household_id: strawberry.ID
    code: str
    kind: SensorKind
    label: str = ""
    consent_person_id: strawberry.ID
    consent_method: ConsentMethod
    consent_photo_id: strawberry.ID | None = None
    no_activity_hours: int = 12


@strawberry.type
class SensorsQuery:
    @strawberry.field(
        permission_classes=[IsStaff],
        description="Live devices of a household, of a community, or of every community the viewer serves.",
    )
    async def sensor_devices(
        self, info: Info, community_id: strawberry.ID | None = None, household_id: strawberry.ID | None = None
    ) -> list[SensorDevice]:
        context = info.context
        rows = await sensors.list_devices(
            context.session,
            actor=context.actor,
            community_id=decode_id(community_id) if community_id else None,
            household_id=decode_id(household_id) if household_id else None,
        )
        return [SensorDevice(row=row) for row in rows]

    @strawberry.field(permission_classes=[IsStaff], description="Who in the home may agree to a sensor.")
    async def sensor_consenters(self, info: Info, household_id: strawberry.ID) -> list[HouseholdMember]:
        context = info.context
        people = await sensors.consenters(
            context.session, actor=context.actor, household_id=decode_id(household_id)
        )
        return [
            HouseholdMember(id=encode_id(p.id), name=p.name, masked_phone=mask_phone(p.phone)) for p in people
        ]

    @strawberry.field(permission_classes=[IsStaff])
    async def community_cameras(self, info: Info, community_id: strawberry.ID) -> list[CommunityCamera]:
        context = info.context
        rows = await sensors.list_cameras(
            context.session, actor=context.actor, community_id=decode_id(community_id)
        )
        return [CommunityCamera(row=row) for row in rows]


@strawberry.type
class SensorsMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff], description="Register a device to a home; its password is shown once."
    )
    async def register_sensor_device(self, info: Info, input: RegisterSensorInput) -> RegisterSensorResult:
        context = info.context

        async def work() -> SensorDeviceRegistered:
            done = await sensors.do_register_device(
                context.session,
                actor=context.actor,
                household_id=decode_id(input.household_id),
                code=input.code,
                kind=input.kind.value,
                label=input.label,
                consent_person_id=decode_id(input.consent_person_id),
                consent_method=input.consent_method.value,
                consent_photo_id=decode_id(input.consent_photo_id) if input.consent_photo_id else None,
                no_activity_hours=input.no_activity_hours,
            )
            return SensorDeviceRegistered(device=SensorDevice(row=done.device), mqtt_password=done.password)

        return await mutation_boundary(info, SensorError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def deregister_sensor_device(self, info: Info, id: strawberry.ID) -> SensorDeviceResult:
        context = info.context

        async def work() -> SensorDeviceSaved:
            row = await sensors.do_deregister_device(
                context.session, actor=context.actor, device_id=decode_id(id)
            )
            return SensorDeviceSaved(device=SensorDevice(row=row))

        return await mutation_boundary(info, SensorError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def add_community_camera(
        self, info: Info, community_id: strawberry.ID, name: str, url: str
    ) -> CommunityCameraResult:
        context = info.context

        async def work() -> CommunityCameraSaved:
            row = await sensors.do_add_camera(
                context.session, actor=context.actor, community_id=decode_id(community_id), name=name, url=url
            )
            return CommunityCameraSaved(camera=CommunityCamera(row=row))

        return await mutation_boundary(info, CameraError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def remove_community_camera(self, info: Info, id: strawberry.ID) -> CommunityCameraResult:
        context = info.context

        async def work() -> CommunityCameraSaved:
            row = await sensors.do_remove_camera(
                context.session, actor=context.actor, camera_id=decode_id(id)
            )
            return CommunityCameraSaved(camera=CommunityCamera(row=row))

        return await mutation_boundary(info, CameraError, work)
