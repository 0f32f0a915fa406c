"""The customer-service desk: audio and video calls (both sides), and the agents' console: the queue, their
hours, one conversation with its actions, the FAQ, the figures and SOS alerts.

Every page works without JavaScript (forms post, pages render); call.js adds WebRTC calls. The resident's
chat and SOS pages are in `chat.py`.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.support import service as support
from laoyou.web.chat import chat_page, new_client_id
from laoyou.web.edge import permissions_policy
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


def _(message: str) -> str:
    return message


# Stock replies an agent picks with one tap; translated into the agent's language when shown.
CANNED_REPLIES = (
    _("Hello, this is customer service. How can I help you?"),
    _("I understand. I will ask a worker to come to your home today."),
    _("Please send me a photo so I can see the problem."),
    _("Your steward will call you within ten minutes."),
    _("Is there anything else I can do for you?"),
    _("Thank you. Please take care of yourself."),
)


def _categories() -> list[str]:
    from laoyou.tickets.models import Category

    return [c.value for c in Category]


def _category_labels() -> dict[str, str]:
    from laoyou.tickets import service as tickets

    return tickets.CATEGORY_LABELS


# --- calls (both sides) --------------------------------------------------------------------------------


async def start_call(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (
        await page.run(
            "StartCall",
            video=form.get("video") == "1",
            conversationId=form.get("conversation_id") or None,
            toSteward=form.get("to") == "steward",
        )
    )["startCall"]
    if result["__typename"] != "CallUpdated":
        if page.context.actor.is_staff:
            raise HTTPException(400, result["message"])
        return await chat_page(page, error=result["message"], status_code=400)
    return page.redirect(f"/support/call/{result['call']['id']}")


async def call_page(page: Page) -> Response:
    data = await page.run("CallPage", id=page.request.path_params["call_id"])
    response = page.render("support/call.html", call=data["supportCall"], ice_servers=data["iceServers"])
    response.headers["Permissions-Policy"] = permissions_policy(camera=True, microphone=True)
    return response


CALL_ACTIONS = {"answer": "AnswerCall", "hangup": "HangUpCall"}


async def call_action(page: Page) -> Response:
    await form_with_csrf(page.request)
    call_id = page.request.path_params["call_id"]
    operation = CALL_ACTIONS.get(page.request.path_params["action"])
    if operation is None:
        raise HTTPException(404, "not found")
    await page.run(operation, id=call_id)
    return page.redirect(f"/support/call/{call_id}")


# --- the agents' console -------------------------------------------------------------------------------


async def console(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("SupportConsole")
    return page.render(
        "support/console.html",
        status_code=status_code,
        queue=data["supportQueue"],
        status=data["myAgentStatus"],
        sos_alerts=data["sosAlerts"],
        error=error,
        is_agent=page.context.actor.has(*support.AGENT_ROLES),
    )


async def set_status(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (
        await page.run(
            "SetAgentStatus",
            online=form.get("online") == "1",
            hoursStart=form.get("hours_start") or None,
            hoursEnd=form.get("hours_end") or None,
        )
    )["setAgentStatus"]
    if result["__typename"] != "AgentStatusUpdated":
        return await console(page, error=result["message"], status_code=400)
    return page.redirect("/staff/support")


async def conversation(
    page: Page, *, error: str | None = None, message: str | None = None, status_code: int = 200
) -> Response:
    data = await page.run("SupportConversationPage", id=page.request.path_params["cid"])
    return page.render(
        "support/conversation.html",
        status_code=status_code,
        c=data["supportConversation"],
        canned=CANNED_REPLIES,
        error=error,
        message=message,
        client_id=new_client_id(),
        categories=_categories(),
        labels=_category_labels(),
    )


# What each of a conversation's buttons runs: (page, conversation id, the posted form) -> the mutation's result.


async def _claim(page: Page, cid: str, form: dict[str, str]) -> dict:
    return (await page.run("ClaimConversation", id=cid))["claimConversation"]


async def _transfer(page: Page, cid: str, form: dict[str, str]) -> dict:
    return (await page.run("TransferConversation", id=cid, toPersonId=form.get("to", "")))[
        "transferConversation"
    ]


async def _close(page: Page, cid: str, form: dict[str, str]) -> dict:
    return (await page.run("CloseConversation", id=cid))["closeConversation"]


async def _work_order(page: Page, cid: str, form: dict[str, str]) -> dict:
    category = str(form.get("category", "other"))
    if category not in _categories():
        category = "other"
    return (await page.run("TurnIntoWorkOrder", id=cid, category=category))["turnConversationIntoWorkOrder"]


CONVERSATION_ACTIONS = {"claim": _claim, "transfer": _transfer, "close": _close, "work-order": _work_order}


async def conversation_action(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    cid = page.request.path_params["cid"]
    action = CONVERSATION_ACTIONS.get(page.request.path_params["action"])
    if action is None:
        raise HTTPException(404, "not found")
    result = await action(page, cid, form)
    if result.get("message"):
        return await conversation(page, error=result["message"], status_code=400)
    return page.redirect(f"/staff/support/{cid}")


async def faq(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("SupportFaqPage")
    districts = {c["district"]["id"]: c["district"] for c in data["viewer"]["staffCommunities"]}
    return page.render(
        "support/faq.html",
        status_code=status_code,
        entries=data["faqEntries"],
        districts=list(districts.values()),
        error=error,
    )


async def faq_save(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (
        await page.run(
            "SaveFaqEntry",
            id=form.get("id") or None,
            districtId=form.get("district_id") or None,
            question=form.get("question", ""),
            answer=form.get("answer", ""),
            keywords=form.get("keywords", ""),
        )
    )["saveFaqEntry"]
    if result["__typename"] != "FaqEntrySaved":
        return await faq(page, error=result["message"], status_code=400)
    return page.redirect("/staff/support/faq")


async def faq_delete(page: Page) -> Response:
    await form_with_csrf(page.request)
    await page.run("DeleteFaqEntry", id=page.request.path_params["fid"])
    return page.redirect("/staff/support/faq")


async def figures(page: Page) -> Response:
    data = await page.run("SupportFiguresPage")
    return page.render("support/figures.html", figures=data["supportFigures"])


async def staff_sos(page: Page) -> Response:
    data = await page.run("SosPage", id=page.request.path_params["sid"])
    return page.render("support/sos.html", alert=data["sosAlert"], staff_view=True)


async def staff_sos_respond(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    sid = page.request.path_params["sid"]
    await page.run("RespondSos", id=sid, resolve=form.get("resolve") == "1")
    return page.redirect(f"/staff/support/sos/{sid}")


PAGES = (
    PageRoute("POST", "/support/call", start_call),
    PageRoute("GET", "/support/call/{call_id}", call_page),
    PageRoute("POST", "/support/call/{call_id}/{action}", call_action),
    PageRoute("GET", "/staff/support", console, staff=True),
    PageRoute("POST", "/staff/support/status", set_status, staff=True),
    PageRoute("GET", "/staff/support/{cid:int}", conversation, staff=True),
    PageRoute("POST", "/staff/support/{cid:int}/{action}", conversation_action, staff=True),
    PageRoute("GET", "/staff/support/faq", faq, staff=True),
    PageRoute("POST", "/staff/support/faq", faq_save, staff=True),
    PageRoute("POST", "/staff/support/faq/{fid}/delete", faq_delete, staff=True),
    PageRoute("GET", "/staff/support/figures", figures, staff=True),
    PageRoute("GET", "/staff/support/sos/{sid}", staff_sos, staff=True),
    PageRoute("POST", "/staff/support/sos/{sid}", staff_sos_respond, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
