"""The steward's pages of home sensors and shared-area cameras: a home's devices with the form that registers one
(the code printed on it, what it is, who agreed and how; its credentials are shown once), and a community's
devices and cameras. The service decides who may; these pages only ask."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.graphql.types import decode_id
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf, secret_page
from laoyou.web.tickets import read_form

KINDS = ("WATER_LEAK", "SMOKE", "GAS", "DOOR", "FALL_BUTTON")
CONSENT_METHODS = ("PHONE", "PAPER")


def _household_url(household_id: str) -> str:
    return f"/staff/sensors/households/{household_id}"


def _community_url(community_id: str) -> str:
    return f"/staff/sensors/communities/{community_id}"


async def household_sensors(
    page: Page, *, error: str | None = None, values: dict | None = None, status_code: int = 200
) -> Response:
    data = await page.run("HouseholdSensors", householdId=page.request.path_params["household_id"])
    return page.render(
        "sensors/household.html",
        status_code=status_code,
        household=data["household"],
        devices=data["sensorDevices"],
        consenters=data["sensorConsenters"],
        kinds=KINDS,
        methods=CONSENT_METHODS,
        error=error,
        values=values or {},
    )


async def register_device(page: Page) -> Response:
    """Store the consent form's photo (when it was on paper), then run RegisterSensorDevice: both end in its
    boundary, committed or not together."""
    form = await read_form(page.request)
    values = {
        key: str(form.get(key, "")) for key in ("code", "kind", "label", "consenter", "method", "hours")
    }
    photo_id = None
    if values["method"] == "PAPER":
        try:
            stored = await store_posted_file(
                page,
                form.get("photo"),
                kind="image",
                community_id=decode_id(str(form.get("community_id", ""))),
            )
        except LaoyouError as exc:
            message = i18n.gettext(exc.message, page.context.language, **exc.params)
            return await household_sensors(page, error=message, values=values, status_code=400)
        photo_id = str(stored.id) if stored is not None else None
    household_id = page.request.path_params["household_id"]
    hours = values["hours"].strip()
    result = (
        await page.run(
            "RegisterSensorDevice",
            input={
                "householdId": household_id,
                "code": values["code"],
                "kind": values["kind"] if values["kind"] in KINDS else "WATER_LEAK",
                "label": values["label"],
                "consentPersonId": values["consenter"] or "0",
                "consentMethod": values["method"] if values["method"] in CONSENT_METHODS else "PHONE",
                "consentPhotoId": photo_id,
                "noActivityHours": int(hours) if hours.isdigit() and len(hours) < 4 else 0,
            },
        )
    )["registerSensorDevice"]
    if result["__typename"] != "SensorDeviceRegistered":
        return await household_sensors(page, error=result["message"], values=values, status_code=400)
    # The password is shown this once: the page is kept nowhere, not even for Back.
    return secret_page(
        page.render(
            "sensors/registered.html",
            household_url=_household_url(household_id),
            device=result["device"],
            password=result["mqttPassword"],
        )
    )


async def deregister_device(page: Page) -> Response:
    await form_with_csrf(page.request)
    household_id = page.request.path_params["household_id"]
    result = (await page.run("DeregisterSensorDevice", id=page.request.path_params["device_id"]))[
        "deregisterSensorDevice"
    ]
    if result["__typename"] != "SensorDeviceSaved":
        return await household_sensors(page, error=result["message"], status_code=400)
    return page.redirect(_household_url(household_id))


async def community_sensors(
    page: Page, *, error: str | None = None, values: dict | None = None, status_code: int = 200
) -> Response:
    data = await page.run("CommunitySensors", communityId=page.request.path_params["community_id"])
    return page.render(
        "sensors/community.html",
        status_code=status_code,
        community=data["community"],
        devices=data["sensorDevices"],
        cameras=data["communityCameras"],
        manage_cameras=True,
        error=error,
        values=values or {},
    )


async def add_camera(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {key: str(form.get(key, "")) for key in ("name", "url")}
    community_id = page.request.path_params["community_id"]
    result = (
        await page.run(
            "AddCommunityCamera", communityId=community_id, cameraName=values["name"], url=values["url"]
        )
    )["addCommunityCamera"]
    if result["__typename"] != "CommunityCameraSaved":
        return await community_sensors(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_community_url(community_id))


async def remove_camera(page: Page) -> Response:
    await form_with_csrf(page.request)
    community_id = page.request.path_params["community_id"]
    result = (await page.run("RemoveCommunityCamera", id=page.request.path_params["camera_id"]))[
        "removeCommunityCamera"
    ]
    if result["__typename"] != "CommunityCameraSaved":
        return await community_sensors(page, error=result["message"], status_code=400)
    return page.redirect(_community_url(community_id))


PAGES = (
    PageRoute("GET", "/staff/sensors/households/{household_id}", household_sensors, staff=True),
    PageRoute("POST", "/staff/sensors/households/{household_id}", register_device, staff=True),
    PageRoute(
        "POST",
        "/staff/sensors/households/{household_id}/devices/{device_id}/deregister",
        deregister_device,
        staff=True,
    ),
    PageRoute("GET", "/staff/sensors/communities/{community_id}", community_sensors, staff=True),
    PageRoute("POST", "/staff/sensors/communities/{community_id}/cameras", add_camera, staff=True),
    PageRoute(
        "POST",
        "/staff/sensors/communities/{community_id}/cameras/{camera_id}/remove",
        remove_camera,
        staff=True,
    ),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
