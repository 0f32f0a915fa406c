"""Customer service pages: the resident's chat, call and SOS; the agents' console, FAQ and figures.

Every page works without JavaScript (forms post, pages render); chat.js and call.js add live updates,
voice notes, the 2-second SOS hold and WebRTC calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.core.errors import LaoyouError
from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.web.edge import permissions_policy
from laoyou.web.render import Page, form_with_csrf, page_endpoint


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


def _new_client_id() -> str:
    return uuid.uuid4().hex


def install(app: FastAPI) -> None:  # noqa: C901, PLR0915
    def route(
        path: str, handler: Callable[[Page], Awaitable[Response]], method: str = "GET", staff: bool = False
    ) -> None:
        app.add_api_route(
            path, page_endpoint(handler, staff=staff), methods=[method], include_in_schema=False
        )

    # --- resident: chat -------------------------------------------------------------------------------

    async def chat(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
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
            client_id=_new_client_id(),
        )
        response.headers["Permissions-Policy"] = permissions_policy(microphone=True)  # voice notes
        return response

    route("/support", chat)

    async def send(page: Page) -> Response:
        request = page.request
        form = await request.form(max_files=1, max_fields=10)
        if not check_csrf(request, str(form.get("csrf_token", ""))):
            raise HTTPException(403, "csrf")
        media_id = None
        upload = form.get("photo")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data = await upload.read(media.MAX_IMAGE_BYTES + 1)
            if data:
                community_id = str(form.get("community_id", ""))
                try:
                    stored = await media.do_store_upload(
                        page.context.session,
                        settings=page.context.settings,
                        storage=request.app.state.storage,
                        actor=page.context.actor,
                        data=data,
                        community_id=int(community_id) if community_id.isdigit() else 0,
                        allowed={"image"},
                        client_id=f"chat-{form.get('client_id', '')}"[:64],
                    )
                except LaoyouError as exc:
                    from laoyou.core import i18n

                    return await chat(
                        page,
                        error=i18n.gettext(exc.message, page.context.language, **exc.params),
                        status_code=400,
                    )
                media_id = str(stored.id)
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
            return await chat(page, error=result["message"], status_code=400)
        back = page.request.query_params.get("back", "")
        if back == "staff" and conversation_id:
            return page.redirect(f"/staff/support/{conversation_id}#bottom")
        return page.redirect("/support#bottom")

    route("/support/send", send, "POST")

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
            return await chat(page, error=result["message"], status_code=400)
        return page.redirect("/support?rated=1")

    route("/support/{cid}/rate", rate, "POST")

    async def close(page: Page) -> Response:
        await form_with_csrf(page.request)
        cid = page.request.path_params["cid"]
        await page.run("CloseConversation", id=cid)
        return page.redirect(f"/staff/support/{cid}" if page.context.actor.is_staff else "/support")

    route("/support/{cid}/close", close, "POST")

    # --- resident: call my steward, SOS ----------------------------------------------------------------

    async def steward_call(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        result = (await page.run("LogStewardCall", householdId=form.get("household_id", "")))[
            "logStewardCall"
        ]
        if result["__typename"] != "StewardCallLogged":
            raise HTTPException(404, "not found")
        if page.request.headers.get("accept", "").startswith("application/json"):
            return Response(status_code=204)
        return page.render("support/dial.html", phone=result["phone"])

    route("/support/steward-call", steward_call, "POST")

    async def sos_confirm(page: Page) -> Response:
        data = await page.run("SupportPage")
        viewer = data["viewer"]
        own = [h for h in viewer["households"] if h["id"] in viewer["ownHouseholdIds"]]
        return page.render("support/sos_confirm.html", households=own, client_id=_new_client_id())

    route("/support/sos", sos_confirm)

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

    route("/support/sos", sos_raise, "POST")

    async def sos_status(page: Page) -> Response:
        data = await page.run("SosPage", id=page.request.path_params["sid"])
        return page.render("support/sos.html", alert=data["sosAlert"])

    route("/support/sos/{sid}", sos_status)

    # --- calls (both sides) ----------------------------------------------------------------------------

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
            return await chat(page, error=result["message"], status_code=400)
        return page.redirect(f"/support/call/{result['call']['id']}")

    route("/support/call", start_call, "POST")

    async def call_page(page: Page) -> Response:
        data = await page.run("CallPage", id=page.request.path_params["call_id"])
        response = page.render("support/call.html", call=data["supportCall"], ice_servers=data["iceServers"])
        response.headers["Permissions-Policy"] = permissions_policy(camera=True, microphone=True)
        return response

    route("/support/call/{call_id}", call_page)

    async def call_action(page: Page) -> Response:
        await form_with_csrf(page.request)
        call_id = page.request.path_params["call_id"]
        action = page.request.path_params["action"]
        if action not in ("answer", "hangup"):
            raise HTTPException(404, "not found")
        await page.run("AnswerCall" if action == "answer" else "HangUpCall", id=call_id)
        return page.redirect(f"/support/call/{call_id}")

    app.add_api_route(
        "/support/call/{call_id}/{action}",
        page_endpoint(call_action),
        methods=["POST"],
        include_in_schema=False,
    )

    # --- staff: console -------------------------------------------------------------------------------

    async def console(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
        data = await page.run("SupportConsole")
        return page.render(
            "support/console.html",
            status_code=status_code,
            queue=data["supportQueue"],
            status=data["myAgentStatus"],
            sos_alerts=data["sosAlerts"],
            error=error,
            is_agent=page.context.actor.has(*_agent_roles()),
        )

    route("/staff/support", console, staff=True)

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

    route("/staff/support/status", set_status, "POST", staff=True)

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
            client_id=_new_client_id(),
            categories=_categories(),
            labels=_category_labels(),
        )

    app.add_api_route(
        "/staff/support/{cid:int}",
        page_endpoint(conversation, staff=True),
        methods=["GET"],
        include_in_schema=False,
    )

    async def conversation_action(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        cid = page.request.path_params["cid"]
        action = page.request.path_params["action"]
        if action not in ("claim", "transfer", "close", "work-order"):
            raise HTTPException(404, "not found")
        if action == "claim":
            result = (await page.run("ClaimConversation", id=cid))["claimConversation"]
        elif action == "transfer":
            result = (await page.run("TransferConversation", id=cid, toPersonId=form.get("to", "")))[
                "transferConversation"
            ]
        elif action == "close":
            result = (await page.run("CloseConversation", id=cid))["closeConversation"]
        else:
            category = str(form.get("category", "other"))
            if category not in _categories():
                category = "other"
            result = (await page.run("TurnIntoWorkOrder", id=cid, category=category))[
                "turnConversationIntoWorkOrder"
            ]
        if result.get("message"):
            return await conversation(page, error=result["message"], status_code=400)
        return page.redirect(f"/staff/support/{cid}")

    app.add_api_route(
        "/staff/support/{cid:int}/{action}",
        page_endpoint(conversation_action, staff=True),
        methods=["POST"],
        include_in_schema=False,
    )

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

    route("/staff/support/faq", faq, staff=True)

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

    route("/staff/support/faq", faq_save, "POST", staff=True)

    async def faq_delete(page: Page) -> Response:
        await form_with_csrf(page.request)
        await page.run("DeleteFaqEntry", id=page.request.path_params["fid"])
        return page.redirect("/staff/support/faq")

    route("/staff/support/faq/{fid}/delete", faq_delete, "POST", staff=True)

    async def figures(page: Page) -> Response:
        data = await page.run("SupportFiguresPage")
        return page.render("support/figures.html", figures=data["supportFigures"])

    route("/staff/support/figures", figures, staff=True)

    async def staff_sos(page: Page) -> Response:
        data = await page.run("SosPage", id=page.request.path_params["sid"])
        return page.render("support/sos.html", alert=data["sosAlert"], staff_view=True)

    route("/staff/support/sos/{sid}", staff_sos, staff=True)

    async def staff_sos_respond(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        sid = page.request.path_params["sid"]
        await page.run("RespondSos", id=sid, resolve=form.get("resolve") == "1")
        return page.redirect(f"/staff/support/sos/{sid}")

    route("/staff/support/sos/{sid}", staff_sos_respond, "POST", staff=True)


def _categories() -> list[str]:
    from laoyou.tickets.models import Category

    return [c.value for c in Category]


def _category_labels() -> dict[str, str]:
    from laoyou.tickets import service as tickets

    return tickets.CATEGORY_LABELS


def _agent_roles():  # noqa: ANN202
    from laoyou.accounts.models import Role

    return (Role.agent, Role.admin)
