"""The PWA's pages. Each runs the PWA's own persisted operations and renders a template; no JS needed."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from laoyou.core import i18n
from laoyou.graphql.context import LANGUAGE_COOKIE
from laoyou.web.render import TEXT_SIZES, OperationFailed, Page, form_with_csrf, make_templates, page_endpoint

ONE_YEAR = 365 * 24 * 3600


def install_web(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.templates = make_templates(settings)
    from laoyou.web import billing as billing_pages
    from laoyou.web import briefings as briefing_pages
    from laoyou.web import media
    from laoyou.web import notify as notify_pages
    from laoyou.web import repairs as repair_pages
    from laoyou.web import support as support_pages
    from laoyou.web import work_orders as work_order_pages

    media.install(app)
    repair_pages.install(app)
    work_order_pages.install(app)
    support_pages.install(app)
    billing_pages.install(app)
    briefing_pages.install(app)
    notify_pages.install(app)
    static_dir = settings.pwa_dir / "static"
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    # Starlette's own 404 and 405 (no such page) come as its HTTPException, FastAPI's as a subclass.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/graphql") or request.headers.get("accept", "").startswith(
            "application/json"
        ):
            return JSONResponse({"errors": [{"message": str(exc.detail)}]}, status_code=exc.status_code)
        page = await Page.open(request)
        try:
            return page.render(
                "error.html", status_code=exc.status_code, status=exc.status_code, detail=str(exc.detail)
            )
        finally:
            await page.close()

    # --- shell: manifest, service worker, offline page -----------------------------------------------

    @app.get("/manifest.webmanifest", include_in_schema=False)
    async def manifest(request: Request) -> Response:
        page = await Page.open(request)
        try:
            body = page.request.app.state.templates.get_template("manifest.webmanifest").render(
                language=page.context.language, html_lang=i18n.html_lang(page.context.language)
            )
        finally:
            await page.close()
        return Response(body, media_type="application/manifest+json")

    @app.get("/sw.js", include_in_schema=False)
    async def service_worker() -> Response:
        # Served from the root so its scope covers every page.
        return FileResponse(
            settings.pwa_dir / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    @app.get("/operations.json", include_in_schema=False)
    async def operations(request: Request) -> Response:
        return JSONResponse(request.app.state.persisted.manifest())

    async def offline(page: Page) -> Response:
        return page.render("offline.html")

    app.add_api_route(
        "/offline", page_endpoint(offline, login=False), methods=["GET"], include_in_schema=False
    )

    # --- login ---------------------------------------------------------------------------------------

    async def login(
        page: Page,
        *,
        error: str | None = None,
        field: str | None = None,
        phone: str = "",
        tab: str = "code",
        status_code: int = 200,
    ) -> Response:
        if page.context.actor.is_authenticated and error is None:
            return page.redirect("/")
        data = await page.run("LoginPage")
        return page.render(
            "login.html",
            status_code=status_code,
            demo_people=data["demoPeople"],
            error=error,
            field=field,
            phone=phone,
            tab=tab,
        )

    app.add_api_route("/login", page_endpoint(login, login=False), methods=["GET"], include_in_schema=False)

    async def login_code(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (await page.run("RequestLoginCode", phone=form.get("phone", "")))["requestLoginCode"]
        if data["__typename"] != "LoginCodeSent":
            return await login(
                page, error=data["message"], field="phone", phone=form.get("phone", ""), status_code=400
            )
        return page.redirect(f"/login/verify?phone={quote(form.get('phone', ''))}")

    app.add_api_route(
        "/login/code", page_endpoint(login_code, login=False), methods=["POST"], include_in_schema=False
    )

    async def verify_form(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
        phone = page.request.query_params.get("phone", "")
        return page.render("verify.html", status_code=status_code, phone=phone[:32], error=error)

    app.add_api_route(
        "/login/verify", page_endpoint(verify_form, login=False), methods=["GET"], include_in_schema=False
    )

    async def verify(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (await page.run("LoginWithCode", phone=form.get("phone", ""), code=form.get("code", "")))[
            "loginWithCode"
        ]
        if data["__typename"] != "LoggedIn":
            return page.render(
                "verify.html", status_code=400, phone=form.get("phone", "")[:32], error=data["message"]
            )
        return page.redirect("/")

    app.add_api_route(
        "/login/verify", page_endpoint(verify, login=False), methods=["POST"], include_in_schema=False
    )

    async def login_password(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (
            await page.run(
                "LoginWithPassword", phone=form.get("phone", ""), password=form.get("password", "")
            )
        )["loginWithPassword"]
        if data["__typename"] != "LoggedIn":
            return await login(
                page, error=data["message"], phone=form.get("phone", ""), tab="password", status_code=400
            )
        return page.redirect("/")

    app.add_api_route(
        "/login/password",
        page_endpoint(login_password, login=False),
        methods=["POST"],
        include_in_schema=False,
    )

    async def login_demo(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (await page.run("LoginAsDemoPerson", phone=form.get("phone", "")))["loginAsDemoPerson"]
        if data["__typename"] != "LoggedIn":
            return await login(page, error=data["message"], status_code=400)
        return page.redirect("/")

    if settings.is_demo:  # one-tap login exists in the demo only
        app.add_api_route(
            "/login/demo", page_endpoint(login_demo, login=False), methods=["POST"], include_in_schema=False
        )

    async def card(page: Page) -> Response:
        # Opening the link only shows a button: link previews and scanners must not spend the card.
        token = page.request.path_params["token"]
        return page.render("card.html", token=token)

    app.add_api_route(
        "/card/{token}", page_endpoint(card, login=False), methods=["GET"], include_in_schema=False
    )

    async def card_login(page: Page) -> Response:
        await form_with_csrf(page.request)
        token = page.request.path_params["token"]
        data = (await page.run("LoginWithCard", token=token))["loginWithCard"]
        if data["__typename"] != "LoggedIn":
            return page.render("card.html", status_code=400, token=token, error=data["message"])
        return page.redirect("/")

    app.add_api_route(
        "/card/{token}", page_endpoint(card_login, login=False), methods=["POST"], include_in_schema=False
    )

    async def logout(page: Page) -> Response:
        await form_with_csrf(page.request)
        if page.context.actor.is_authenticated:
            everywhere = page.request.url.path.endswith("/everywhere")
            await page.run("LogoutEverywhere" if everywhere else "Logout")
        return page.redirect("/login")

    app.add_api_route(
        "/logout", page_endpoint(logout, login=False), methods=["POST"], include_in_schema=False
    )
    app.add_api_route(
        "/logout/everywhere", page_endpoint(logout, login=False), methods=["POST"], include_in_schema=False
    )

    # --- home ----------------------------------------------------------------------------------------

    async def home(page: Page) -> Response:
        if page.context.actor.is_staff:
            data = await page.run("StaffHome")
            return page.render("home_staff.html", viewer=data["viewer"])
        data = await page.run("ResidentHome")
        from laoyou.web.briefings import todays_for_home

        return page.render(
            "home_resident.html", viewer=data["viewer"], todays_briefings=await todays_for_home(page)
        )

    app.add_api_route("/", page_endpoint(home), methods=["GET"], include_in_schema=False)

    async def notifications_read(page: Page) -> Response:
        await form_with_csrf(page.request)
        await page.run("MarkNotificationsRead")
        return page.redirect("/")

    app.add_api_route(
        "/notifications/read", page_endpoint(notifications_read), methods=["POST"], include_in_schema=False
    )

    # --- family --------------------------------------------------------------------------------------

    async def family(
        page: Page, *, message: str | None = None, error: str | None = None, status_code: int = 200
    ) -> Response:
        data = await page.run("FamilyPage")
        return page.render(
            "family.html", status_code=status_code, viewer=data["viewer"], message=message, error=error
        )

    app.add_api_route("/family", page_endpoint(family), methods=["GET"], include_in_schema=False)

    async def family_request(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (
            await page.run(
                "RequestFamilyLink", phone=form.get("phone", ""), relation=form.get("relation", "")
            )
        )["requestFamilyLink"]
        if data["__typename"] != "FamilyLinkRequested":
            return await family(page, error=data["message"], status_code=400)
        return await family(page, message=data["message"])

    app.add_api_route(
        "/family/request", page_endpoint(family_request), methods=["POST"], include_in_schema=False
    )

    async def family_decide(page: Page) -> Response:
        await form_with_csrf(page.request)  # its CSRF check; what to do is in the path
        link_id = page.request.path_params["link_id"]
        action = page.request.path_params["action"]
        if action not in ("accept", "decline", "remove"):
            raise HTTPException(404, "not found")
        try:
            if action == "remove":
                data = (await page.run("RemoveFamilyLink", id=link_id))["removeFamilyLink"]
            else:
                data = (await page.run("RespondFamilyLink", id=link_id, accept=action == "accept"))[
                    "respondFamilyLink"
                ]
        except OperationFailed:
            raise HTTPException(404, "not found") from None
        if data["__typename"] != "FamilyLinkUpdated":
            return await family(page, error=data["message"], status_code=400)
        return page.redirect("/family")

    # Starlette's path convertors are types (int, str, …), not patterns: the action is checked in the handler.
    app.add_api_route(
        "/family/{link_id}/{action}", page_endpoint(family_decide), methods=["POST"], include_in_schema=False
    )

    # --- settings ------------------------------------------------------------------------------------

    async def settings_page(
        page: Page, *, error: str | None = None, saved: bool = False, status_code: int = 200
    ) -> Response:
        return page.render(
            "settings.html", status_code=status_code, error=error, saved=saved, text_sizes=TEXT_SIZES
        )

    app.add_api_route(
        "/settings", page_endpoint(settings_page, login=False), methods=["GET"], include_in_schema=False
    )

    async def save_settings(page: Page) -> Response:
        """Anyone may change language and text size; a logged-in person keeps them on every phone."""
        form = await form_with_csrf(page.request)
        language = i18n.valid_language(form.get("language"))
        text_size = form.get("text_size") if form.get("text_size") in TEXT_SIZES else None
        ui_mode = form.get("ui_mode") if form.get("ui_mode") in ("elderly", "standard") else None
        if page.context.actor.is_authenticated:
            data = (
                await page.run("UpdatePreferences", language=language, textSize=text_size, uiMode=ui_mode)
            )["updatePreferences"]
            if data["__typename"] != "PreferencesUpdated":
                return await settings_page(page, error=data["message"], status_code=400)
        if language:
            page.context.language = language
            page.sub_response.set_cookie(
                LANGUAGE_COOKIE, language, max_age=ONE_YEAR, samesite="lax", path="/"
            )
        if text_size:
            page.sub_response.set_cookie("laoyou_text", text_size, max_age=ONE_YEAR, samesite="lax", path="/")
        if ui_mode:
            page.sub_response.set_cookie("laoyou_mode", ui_mode, max_age=ONE_YEAR, samesite="lax", path="/")
        back = form.get("next", "/settings")
        return page.redirect(back if back.startswith("/") and not back.startswith("//") else "/settings")

    app.add_api_route(
        "/settings", page_endpoint(save_settings, login=False), methods=["POST"], include_in_schema=False
    )

    # --- staff: households and login cards ------------------------------------------------------------

    async def community_households(page: Page) -> Response:
        try:
            data = await page.run(
                "CommunityHouseholds",
                id=page.request.path_params["community_id"],
                first=50,
                after=page.request.query_params.get("after"),
            )
        except OperationFailed:
            raise HTTPException(404, "not found") from None
        return page.render("households.html", community=data["community"])

    app.add_api_route(
        "/staff/communities/{community_id}/households",
        page_endpoint(community_households),
        methods=["GET"],
        include_in_schema=False,
    )

    async def household_cards(
        page: Page, *, error: str | None = None, issued: dict | None = None, status_code: int = 200
    ) -> Response:
        try:
            data = await page.run("HouseholdCards", householdId=page.request.path_params["household_id"])
        except OperationFailed:
            raise HTTPException(404, "not found") from None
        return page.render(
            "household_cards.html",
            status_code=status_code,
            household=data["household"],
            cards=data["loginCards"],
            error=error,
            issued=issued,
        )

    app.add_api_route(
        "/staff/households/{household_id}/cards",
        page_endpoint(household_cards),
        methods=["GET"],
        include_in_schema=False,
    )

    async def issue_card(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        try:
            data = (
                await page.run(
                    "IssueLoginCard",
                    householdId=page.request.path_params["household_id"],
                    personId=form.get("person_id", ""),
                )
            )["issueLoginCard"]
        except OperationFailed:
            raise HTTPException(404, "not found") from None
        if data["__typename"] != "LoginCardIssued":
            return await household_cards(page, error=data["message"], status_code=400)
        return page.render("login_card_print.html", issued=data)

    app.add_api_route(
        "/staff/households/{household_id}/cards",
        page_endpoint(issue_card),
        methods=["POST"],
        include_in_schema=False,
    )

    async def revoke_card(page: Page) -> Response:
        await form_with_csrf(page.request)
        try:
            data = (await page.run("RevokeLoginCard", id=page.request.path_params["card_id"]))[
                "revokeLoginCard"
            ]
        except OperationFailed:
            raise HTTPException(404, "not found") from None
        if data["__typename"] != "LoginCardRevoked":
            return await household_cards(page, error=data["message"], status_code=400)
        return page.redirect(f"/staff/households/{page.request.path_params['household_id']}/cards")

    app.add_api_route(
        "/staff/households/{household_id}/cards/{card_id}/revoke",
        page_endpoint(revoke_card),
        methods=["POST"],
        include_in_schema=False,
    )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return FileResponse(static_dir / "icons" / "icon-192.png", media_type="image/png")
