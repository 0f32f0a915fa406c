"""What the sensor tests share: the demo homes of 秀山花园 and a device registered through the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from laoyou.accounts.models import Person, RoleGrant
from laoyou.core.phone import normalise_phone
from laoyou.graphql.types import encode_id

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, GraphQLClient, login_demo

REGISTER = """
mutation ($input: RegisterSensorInput!) {
  registerSensorDevice(input: $input) {
    __typename
    ... on SensorDeviceRegistered { mqttPassword device { id code kind mqttUsername topic consentBy consentMethod } }
    ... on SensorError { code message field }
  }
}
"""


async def home_of(db: Any, phone: str) -> RoleGrant:
    person = await db.scalar(select(Person).where(Person.phone == normalise_phone(phone)))
    return await db.scalar(
        select(RoleGrant).where(RoleGrant.person_id == person.id, RoleGrant.role == "resident")
    )


async def other_home(db: Any, grant: RoleGrant) -> RoleGrant:
    """Another household of the same community, with a resident."""
    return await db.scalar(
        select(RoleGrant)
        .where(
            RoleGrant.community_id == grant.community_id,
            RoleGrant.role == "resident",
            RoleGrant.household_id != grant.household_id,
            RoleGrant.revoked_at.is_(None),
        )
        .order_by(RoleGrant.id)
    )


def register_input(grant: RoleGrant, code: str, kind: str = "WATER_LEAK", **more: Any) -> dict[str, Any]:
    return {
        "householdId": encode_id(grant.household_id),
        "code": code,
        "kind": kind,
        "label": "厨房",
        "consentPersonId": encode_id(grant.person_id),
        "consentMethod": "PHONE",
        **more,
    }


async def register(
    gql: GraphQLClient, grant: RoleGrant, code: str, kind: str = "WATER_LEAK"
) -> dict[str, Any]:
    """A device the steward of 秀山花园 registers; its credentials as shown once."""
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    result = (await steward(REGISTER, {"input": register_input(grant, code, kind)}))["data"][
        "registerSensorDevice"
    ]
    assert result["__typename"] == "SensorDeviceRegistered", result
    return result


__all__ = ["RESIDENT_XIUSHAN", "home_of", "other_home", "register", "register_input"]
