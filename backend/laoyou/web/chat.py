"""The resident's customer-service pages: the chat, stars for a conversation that ended, "call my steward" and
SOS.

Every page works without JavaScript (forms post, pages render); chat.js adds live updates, voice notes and
the 2-second SOS hold. The calls (both sides) and the agents' console are in `desk.py`.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.graphql.router import check_csrf
from laoyou.web.edge import permissions_policy
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


def new_client_id() -> str:
    """The id a form's post carries, so that a repeated post sends or raises once."""
    return uuid.uuid4().hex


async def chat_page(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("SupportPage")
    viewer = data["viewer"]
    # A resident asks about their own home; a family member about the home they follow.
    households = sorted(viewer["households"], key=lambda h: h["id"] not in viewer["ownHouseholdIds"])
    to_rate = next(
        (c for c in data["supportConversations"] if c["status"] == "closed" and not c["rating"]), None
    )
    response = page.render(
        "support/chat.html",
        status_code=status_code,
        viewer=viewer,
        households=households,
        conversation=data["mySupportConversation"],
        to_rate=to_rate,
        error=error,
        client_id=new_client_id(),
    )
    response.headers["Permissions-Policy"] = permissions_policy(microphone=True)  # voice notes
    return response


async def send(page: Page) -> Response:
    request = page.request
    form = await request.form(max_files=1, max_fields=10)
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    community_id = str(form.get("community_id", ""))
    try:
        stored = await store_posted_file(
            page,
            form.get("photo"),
            kind="image",
            community_id=int(community_id) if community_id.isdigit() else 0,
            client_id=f"chat-{form.get('client_id', '')}"[:64],
        )
    except LaoyouError as exc:
        return await chat_page(
            page, error=i18n.gettext(exc.message, page.context.language, **exc.params), status_code=400
        )
    media_id = str(stored.id) if stored is not None else None
    conversation_id = str(form.get("conversation_id", "")) or None
    result = (
        await page.run(
            "SendChatMessage",
            clientId=str(form.get("client_id", "")),
            body=str(form.get("body", "")),
            mediaId=media_id,
            conversationId=conversation_id,
            householdId=str(form.get("household_id", "")) or None,
        )
    )["sendChatMessage"]
    if result["__typename"] != "ChatMessageSent":
        return await chat_page(page, error=result["message"], status_code=400)
    back = page.request.query_params.get("back", "")
    if back == "staff" and conversation_id:
        return page.redirect(f"/staff/support/{conversation_id}#bottom")
    return page.redirect("/support#bottom")


async def rate(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    stars = form.get("stars", "")
    result = (
        await page.run(
            "RateConversation",
            id=page.request.path_params["cid"],
            stars=int(stars) if stars.isdigit() else 0,
            comment=form.get("comment", ""),
        )
    )["rateConversation"]
    if result["__typename"] != "ConversationUpdated":
        return await chat_page(page, error=result["message"], status_code=400)
    return page.redirect("/support?rated=1")


async def close(page: Page) -> Response:
    await form_with_csrf(page.request)
    cid = page.request.path_params["cid"]
    await page.run("CloseConversation", id=cid)
    return page.redirect(f"/staff/support/{cid}" if page.context.actor.is_staff else "/support")


async def steward_call(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (await page.run("LogStewardCall", householdId=form.get("household_id", "")))["logStewardCall"]
    if result["__typename"] != "StewardCallLogged":
        raise HTTPException(404, "not found")
    if page.request.headers.get("accept", "").startswith("application/json"):
        return Response(status_code=204)
    return page.render("support/dial.html", phone=result["phone"])


async def sos_confirm(page: Page) -> Response:
    """确认求助 or 取消, after a tap on SOS: a page of its own, so it works without JavaScript. Family may send
    help to the home they follow (their parent may not be able to press it); their own home comes first."""
    data = await page.run("SupportPage")
    viewer = data["viewer"]
    households = sorted(viewer["households"], key=lambda h: h["id"] not in viewer["ownHouseholdIds"])
    return page.render(
        "support/sos_confirm.html",
        households=households,
        own_ids=viewer["ownHouseholdIds"],
        client_id=new_client_id(),
    )


async def sos_raise(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (
        await page.run(
            "RaiseSos", householdId=form.get("household_id", ""), clientId=form.get("client_id", "")
        )
    )["raiseSos"]
    if result["__typename"] != "SosRaised":
        raise HTTPException(400, result["message"])
    return page.redirect(f"/support/sos/{result['alert']['id']}")


async def sos_status(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("SosPage", id=page.request.path_params["sid"])
    return page.render("support/sos.html", status_code=status_code, alert=data["sosAlert"], error=error)


async def sos_cancel(page: Page) -> Response:
    """我没事了: her page's button posts here and gets 确认取消 (one more tap, a page of its own, so it works
    without JavaScript); that tap posts again with confirm=1 and calls the SOS off."""
    form = await form_with_csrf(page.request)
    sid = page.request.path_params["sid"]
    if form.get("confirm") != "1":
        data = await page.run("SosPage", id=sid)
        alert = data["sosAlert"]
        if not alert["viewerIsResident"]:
            raise HTTPException(404, "not found")
        if alert["status"] == "resolved":
            return page.redirect(f"/support/sos/{sid}")
        return page.render("support/sos_cancel.html", alert=alert)
    result = (await page.run("CancelSos", id=sid))["cancelSos"]
    if result["__typename"] != "SosRaised":
        return await sos_status(page, error=result["message"], status_code=409)
    return page.redirect(f"/support/sos/{sid}")


PAGES = (
    PageRoute("GET", "/support", chat_page),
    PageRoute("POST", "/support/send", send),
    PageRoute("POST", "/support/{cid}/rate", rate),
    PageRoute("POST", "/support/{cid}/close", close),
    PageRoute("POST", "/support/steward-call", steward_call),
    PageRoute("GET", "/support/sos", sos_confirm),
    PageRoute("POST", "/support/sos", sos_raise),
    PageRoute("GET", "/support/sos/{sid}", sos_status),
    PageRoute("POST", "/support/sos/{sid}/cancel", sos_cancel),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
