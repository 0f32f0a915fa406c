"""Paying the way residents pay: inside WeChat (JSAPI, after the official account's web authorisation), by
scanning a QR code at the counter or on a printed bill (Native), and H5 elsewhere with the payer's own address.

The real adapters talk to local stand-ins of WeChat Pay's order endpoints and of the official account's OAuth
that check what the published protocols require."""

from __future__ import annotations

import base64
import json
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways import GatewayRefused, OrderRequest
from laoyou.billing.gateways import wechatpay as wx
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.gateways.wechat_oauth import OAuthFailed, WeChatOAuth
from laoyou.billing.models import Bill, Payment, PaymentMethod, WechatPayer
from laoyou.core.errors import LaoyouError

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from ..web.conftest import browser, csrf_in, log_in, open_page
from .helpers import actor_for, pay_form
from .test_gateways import APPID, MCHID, PAYER_IP, keys, signed_response, wechat  # noqa: F401

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 10; V2001A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.5304.141 "
    "Mobile Safari/537.36 XWEB/5075 MMWEBSDK/20230504 MicroMessenger/8.0.37.2380(0x2800253D) WeChat/arm64"
)
MP_SECRET = "the-official-accounts-appsecret"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
PREPAY_ID = "wx201410272009395522657a690389285100"
CODE_URL = "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"


class WeChatStandIn:
    """WeChat Pay's order endpoints (each request's signature checked with the merchant's public key) and the
    official account's code exchange, answering as published."""

    def __init__(self, rsa_keys) -> None:  # noqa: ANN001
        self.keys = rsa_keys
        self.orders: list[tuple[str, bytes]] = []  # (path, body) as sent
        self.exchanges: list[dict[str, list[str]]] = []
        self.codes = {"CODE-OK": OPENID}

    def pay(self, request: httpx.Request) -> httpx.Response:
        auth = wx.parse_authorization(request.headers["authorization"])
        message = wx.request_message(
            request.method,
            request.url.raw_path.decode(),
            auth["timestamp"],
            auth["nonce_str"],
            request.content.decode(),
        )
        if auth["mchid"] != MCHID or not wx.rsa_verify(
            self.keys["merchant"].public_key(), message, auth["signature"]
        ):
            return signed_response(self.keys, {"code": "SIGN_ERROR", "message": "签名错误"}, status=401)
        self.orders.append((request.url.path, request.content))
        kind = request.url.path.rsplit("/", 1)[-1]
        answer = {
            "jsapi": {"prepay_id": PREPAY_ID},
            "native": {"code_url": CODE_URL},
            "h5": {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"},
        }
        return signed_response(self.keys, answer[kind])

    def oauth(self, request: httpx.Request) -> httpx.Response:
        params = parse_qs(request.url.query.decode())
        self.exchanges.append(params)
        openid = self.codes.pop(params.get("code", [""])[0], None)  # a code is good once
        if request.url.path != "/sns/oauth2/access_token" or openid is None:
            return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
        return httpx.Response(
            200,
            json={
                "access_token": "ACCESS_TOKEN",
                "expires_in": 7200,
                "refresh_token": "REFRESH_TOKEN",
                "openid": openid,
                "scope": "snsapi_base",
            },
        )


def expected_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def pay_sign_verifies(rsa_keys, params: dict) -> bool:  # noqa: ANN001
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    try:
        rsa_keys["merchant"].public_key().verify(
            base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:  # noqa: BLE001
        return False
    return True


# --- the adapter -----------------------------------------------------------------------------------------


async def test_jsapi_order_is_the_published_body_and_the_bridge_parameters_verify(keys):  # noqa: F811
    # Given WeChat Pay's JSAPI endpoint
    standin = WeChatStandIn(keys)
    now = int(time.time())
    gateway = wechat(keys, transport=httpx.MockTransport(standin.pay), clock=lambda: now)
    # When an order is made for a payer known by their openid
    created = await gateway.create_order(
        OrderRequest(
            out_trade_no="LYJ1",
            amount_fen=4703,
            description="秀山花园 物业费",
            kind="jsapi",
            payer_openid=OPENID,
        )
    )
    # Then the request body is exactly the documented one (payer.openid, no scene_info)
    assert standin.orders == [
        (
            "/v3/pay/transactions/jsapi",
            expected_body(
                {
                    "appid": APPID,
                    "mchid": MCHID,
                    "description": "秀山花园 物业费",
                    "out_trade_no": "LYJ1",
                    "notify_url": "https://example.org/billing/notify/wechat",
                    "amount": {"total": 4703, "currency": "CNY"},
                    "payer": {"openid": OPENID},
                }
            ),
        )
    ]
    # And WeixinJSBridge gets the prepay package, signed by the merchant key over the four lines
    params = created.jsapi_params
    assert params["appId"] == APPID and params["timeStamp"] == str(now)
    assert params["package"] == f"prepay_id={PREPAY_ID}" and params["signType"] == "RSA"
    assert 0 < len(params["nonceStr"]) <= 32
    assert pay_sign_verifies(keys, params)
    assert not pay_sign_verifies(keys, {**params, "package": "prepay_id=another"})


async def test_native_order_is_the_published_body_and_gives_the_code_url(keys):  # noqa: F811
    standin = WeChatStandIn(keys)
    gateway = wechat(keys, transport=httpx.MockTransport(standin.pay))
    created = await gateway.create_order(
        OrderRequest(out_trade_no="LYN1", amount_fen=100, description="物业费", kind="native")
    )
    assert created.code_url == CODE_URL and not created.pay_url
    assert standin.orders == [
        (
            "/v3/pay/transactions/native",
            expected_body(
                {
                    "appid": APPID,
                    "mchid": MCHID,
                    "description": "物业费",
                    "out_trade_no": "LYN1",
                    "notify_url": "https://example.org/billing/notify/wechat",
                    "amount": {"total": 100, "currency": "CNY"},
                }
            ),
        )
    ]


@pytest.mark.parametrize("address", [PAYER_IP, "2408:8456:3a10::1"])
async def test_h5_sends_the_payers_own_address(keys, address):  # noqa: F811
    standin = WeChatStandIn(keys)
    gateway = wechat(keys, transport=httpx.MockTransport(standin.pay))
    await gateway.create_order(
        OrderRequest(out_trade_no="LYH1", amount_fen=1, description="x", client_ip=address)
    )
    [(path, body)] = standin.orders
    assert path == "/v3/pay/transactions/h5"
    assert json.loads(body)["scene_info"] == {"payer_client_ip": address, "h5_info": {"type": "Wap"}}


@pytest.mark.parametrize(
    "address", ["", "unknown", "testclient", "127.0.0.1; drop", "127.0.0.1", "::1", "0.0.0.0"]
)
async def test_h5_without_the_payers_address_is_refused_before_anything_is_sent(keys, address):  # noqa: F811
    standin = WeChatStandIn(keys)
    gateway = wechat(keys, transport=httpx.MockTransport(standin.pay))
    with pytest.raises(GatewayRefused, match="payer_client_ip"):
        await gateway.create_order(
            OrderRequest(out_trade_no="LYH2", amount_fen=1, description="x", client_ip=address)
        )
    assert standin.orders == []


# --- the official account's web authorisation ----------------------------------------------------------


def test_the_authorisation_url_is_the_published_one():
    oauth = WeChatOAuth(appid=APPID, secret=MP_SECRET)
    url = oauth.authorize_url(
        redirect_uri="https://laoyou.example/bills/wechat?next=/bills", state="12345abc"
    )
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxd678efh567hg6787"
        "&redirect_uri=https%3A%2F%2Flaoyou.example%2Fbills%2Fwechat%3Fnext%3D%2Fbills"
        "&response_type=code&scope=snsapi_base&state=12345abc#wechat_redirect"
    )


async def test_the_code_is_exchanged_for_the_openid(keys):  # noqa: F811
    standin = WeChatStandIn(keys)
    oauth = WeChatOAuth(appid=APPID, secret=MP_SECRET, transport=httpx.MockTransport(standin.oauth))
    assert await oauth.openid("CODE-OK") == OPENID
    assert standin.exchanges == [
        {
            "appid": [APPID],
            "secret": [MP_SECRET],
            "code": ["CODE-OK"],
            "grant_type": ["authorization_code"],
        }
    ]
    # A code is good once: WeChat answers 40029 the second time
    with pytest.raises(OAuthFailed, match="40029"):
        await oauth.openid("CODE-OK")


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(200, text="<html>busy</html>"),
        lambda r: httpx.Response(200, json={"errcode": 40163, "errmsg": "code been used"}),
        lambda r: httpx.Response(200, json={"access_token": "x"}),
    ],
)
async def test_an_exchange_that_gives_no_openid_fails(answer):
    oauth = WeChatOAuth(appid=APPID, secret=MP_SECRET, transport=httpx.MockTransport(answer))
    with pytest.raises(OAuthFailed):
        await oauth.openid("CODE")


async def test_an_unreachable_wechat_fails_the_exchange():
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("no answer", request=request)

    oauth = WeChatOAuth(appid=APPID, secret=MP_SECRET, transport=httpx.MockTransport(unreachable))
    with pytest.raises(OAuthFailed, match="unreachable"):
        await oauth.openid("CODE")


# --- the pages, inside WeChat ----------------------------------------------------------------------------


@pytest.fixture
def standin(keys, app, monkeypatch):  # noqa: F811
    """The app's WeChat Pay and official account, pointed at the stand-in."""
    stand = WeChatStandIn(keys)
    registry = gateways(app.state.settings)
    monkeypatch.setitem(registry.by_name, "wechat", wechat(keys, transport=httpx.MockTransport(stand.pay)))
    monkeypatch.setattr(
        registry,
        "wechat_oauth",
        WeChatOAuth(appid=APPID, secret=MP_SECRET, transport=httpx.MockTransport(stand.oauth)),
    )
    return stand


async def payers(db) -> list[WechatPayer]:  # noqa: ANN001
    return list(await db.exec(select(WechatPayer).execution_options(populate_existing=True)))


async def test_inside_wechat_the_resident_pays_with_jsapi_after_wechat_says_who_they_are(
    app,
    db,
    standin,
    keys,  # noqa: F811
):
    async with browser(app) as http:
        # Given the demo resident, logged in inside WeChat's browser
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        form = pay_form(await open_page(http, "/bills"))
        # Then WeChat Pay is the way offered there
        assert form["method"] == "wechat"
        # When they tap Pay for the first time
        first = await http.post("/bills/pay", data=form)
        # Then the browser goes to the official account's silent authorisation, with a state for this session
        assert first.status_code == 303
        location = urlsplit(first.headers["location"])
        assert (location.netloc, location.path, location.fragment) == (
            "open.weixin.qq.com",
            "/connect/oauth2/authorize",
            "wechat_redirect",
        )
        query = parse_qs(location.query)
        assert query["scope"] == ["snsapi_base"] and query["appid"] == [APPID]
        assert re.fullmatch(r"[0-9a-f]{42}", query["state"][0])
        back = urlsplit(query["redirect_uri"][0])
        assert back.path == "/bills/wechat" and parse_qs(back.query) == {"next": ["/bills"]}
        assert standin.orders == []  # no order yet
        # When WeChat brings them back with a code
        returned = await http.get(f"/bills/wechat?{back.query}&code=CODE-OK&state={query['state'][0]}")
        # Then the openid is remembered for this person and this official account, and they are back at the bills
        assert returned.status_code == 303 and returned.headers["location"] == "/bills"
        resident = await actor_for(db, RESIDENT_XIUSHAN)
        assert [(p.person_id, p.appid, p.openid) for p in await payers(db)] == [
            (resident.person_id, APPID, OPENID)
        ]
        # When they tap Pay again
        form = pay_form(await open_page(http, "/bills"))
        paid = await http.post("/bills/pay", data=form)
        # Then a JSAPI order is made for them and the payment page opens WeChat's payment sheet
        assert paid.status_code == 303
        assert re.fullmatch(r"/payments/[^/?]+\?start=1", paid.headers["location"])
        [(path, body)] = standin.orders
        assert path == "/v3/pay/transactions/jsapi" and json.loads(body)["payer"] == {"openid": OPENID}
        page = await open_page(http, paid.headers["location"])
    # And the page hands WeixinJSBridge parameters signed by the merchant key, from a static script
    bridge = dict(
        re.findall(r'data-(app-id|time-stamp|nonce-str|package|sign-type|pay-sign)="([^"]*)"', page)
    )
    params = {
        "appId": bridge["app-id"],
        "timeStamp": bridge["time-stamp"],
        "nonceStr": bridge["nonce-str"],
        "package": unescape(bridge["package"]),
        "signType": bridge["sign-type"],
        "paySign": bridge["pay-sign"],
    }
    assert params["package"] == f"prepay_id={PREPAY_ID}" and params["signType"] == "RSA"
    assert abs(int(params["timeStamp"]) - time.time()) < 600
    assert pay_sign_verifies(keys, params)
    assert (
        re.search(r'src="/static/js/wechat-pay\.[0-9a-f]{12}\.js"', page) and "data-wechat-pay-start" in page
    )
    assert 'action="/payments/' in page  # and the page asks the server again after the bridge returns
    payment = (await db.exec(select(Payment).where(Payment.method == "wechat"))).one()
    assert payment.pay_url == f"prepay_id={PREPAY_ID}" and payment.status == "pending"


async def test_a_state_of_another_session_is_refused_and_nothing_is_remembered(app, db, standin):
    async with browser(app) as mine, browser(app) as theirs:
        # Given a state made for one session
        await log_in(mine, RESIDENT_XIUSHAN)
        mine.headers["User-Agent"] = WECHAT_UA
        started = await mine.post("/bills/pay", data=pay_form(await open_page(mine, "/bills")))
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        # When another session (a link sent to someone else, or a forged page) comes back with it
        await log_in(theirs, RESIDENT_XIUSHAN)
        refused = await theirs.get(f"/bills/wechat?next=/bills&code=CODE-OK&state={state}")
        # Then it is refused with a plain message; the code is never exchanged and nothing is remembered
        assert refused.status_code == 400
        assert "已过期" in refused.text or "expired" in refused.text
        assert standin.exchanges == [] and await payers(db) == []
        # And a tampered state is refused too
        tampered = state[:-1] + ("0" if state[-1] != "0" else "1")
        assert (await mine.get(f"/bills/wechat?code=CODE-OK&state={tampered}")).status_code == 400
        assert await payers(db) == []


async def test_a_stale_state_is_refused(db):
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    resident.session_id = 7
    state = billing.wechat.payer_state(secret_key="k" * 40, actor=resident, now=time.time() - 601)
    with pytest.raises(LaoyouError, match="expired"):
        billing.wechat.check_payer_state(secret_key="k" * 40, actor=resident, state=state)
    fresh = billing.wechat.payer_state(secret_key="k" * 40, actor=resident)
    billing.wechat.check_payer_state(secret_key="k" * 40, actor=resident, state=fresh)


async def test_a_failed_code_exchange_says_so_and_remembers_nothing(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        started = await http.post("/bills/pay", data=pay_form(await open_page(http, "/bills")))
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        # When WeChat refuses the code (used already, or made up)
        failed = await http.get(f"/bills/wechat?next=/bills&code=CODE-USED&state={state}")
        # Then the person reads what happened and what to do, and nothing is remembered
        assert failed.status_code == 400
        assert "微信没有告诉我们是谁在付款" in failed.text
        assert await payers(db) == []
        # And no code at all is refused without asking WeChat
        exchanges = len(standin.exchanges)
        assert (await http.get(f"/bills/wechat?state={state}")).status_code == 400
        assert len(standin.exchanges) == exchanges


async def test_the_way_back_goes_only_to_this_site(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        started = await http.post("/bills/pay", data=pay_form(await open_page(http, "/bills")))
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        back = await http.get(f"/bills/wechat?next=//evil.example/x&code=CODE-OK&state={state}")
        assert back.status_code == 303 and back.headers["location"] == "/bills"


async def test_outside_wechat_the_resident_pays_h5_with_their_address(app, db, standin):
    async with browser(app, client=(PAYER_IP, 5000)) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        form = pay_form(await open_page(http, "/bills"))
        paid = await http.post("/bills/pay", data={**form, "method": "wechat"})
    assert paid.status_code == 303 and paid.headers["location"].startswith("https://wx.tenpay.com/")
    [(path, body)] = standin.orders
    assert path == "/v3/pay/transactions/h5"
    assert json.loads(body)["scene_info"]["payer_client_ip"] == PAYER_IP
    assert standin.exchanges == []


@pytest.mark.parametrize(
    "proxy, forwarded, sent",
    [
        ("127.0.0.1", PAYER_IP, PAYER_IP),  # the trusted reverse proxy names the phone
        ("10.0.0.5", "198.51.100.9", "10.0.0.5"),  # anyone else's header is not believed
    ],
)
async def test_h5_sends_the_address_the_trusted_proxy_names(app, db, standin, proxy, forwarded, sent):
    async with browser(app, client=(proxy, 5000)) as http:
        http.headers["X-Forwarded-For"] = forwarded
        await log_in(http, RESIDENT_XIUSHAN)
        form = pay_form(await open_page(http, "/bills"))
        paid = await http.post("/bills/pay", data={**form, "method": "wechat"})
    assert paid.status_code == 303
    [(_, body)] = standin.orders
    assert json.loads(body)["scene_info"]["payer_client_ip"] == sent


@pytest.mark.parametrize("address", ["unknown", "127.0.0.1"])
async def test_h5_with_no_known_address_is_refused_clearly(db, standin, address):
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    resident.client_ip = address
    bill = (
        await db.exec(select(Bill).where(Bill.household_id.in_(resident.household_ids), Bill.paid_fen == 0))
    ).first()
    with pytest.raises(LaoyouError, match="network address"):
        await billing.do_pay_bills(
            db,
            actor=resident,
            bill_ids=[bill.id],
            method=PaymentMethod.wechat,
            idempotency_key="h5-no-address",
            gateway=gateways().get("wechat"),
            client_ip=resident.client_ip,
        )
    assert standin.orders == []


async def test_only_the_payer_is_handed_the_bridge_parameters(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        started = await http.post("/bills/pay", data=pay_form(await open_page(http, "/bills")))
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        await http.get(f"/bills/wechat?next=/bills&code=CODE-OK&state={state}")
        paid = await http.post("/bills/pay", data=pay_form(await open_page(http, "/bills")))
        payment_path = paid.headers["location"].split("?")[0]
    # The community's steward may see the payment, never sign for it; a stranger does not find it at all
    async with browser(app) as steward:
        await log_in(steward, STEWARD_XIUSHAN)
        page = await steward.get(payment_path)
        assert page.status_code == 200 and "data-pay-sign" not in page.text
    for stranger_phone in (RESIDENT_JINGJU, STEWARD_YUEYANG):
        async with browser(app) as stranger:
            await log_in(stranger, stranger_phone)
            assert (await stranger.get(payment_path)).status_code == 404


# --- the counter and the printed bill ---------------------------------------------------------------------


async def household_page(http: httpx.AsyncClient, db) -> tuple[str, str]:  # noqa: ANN001
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    [household_id] = resident.household_ids
    from laoyou.graphql.types import encode_id

    path = f"/staff/households/{encode_id(household_id)}/bills"
    return path, await open_page(http, path)


async def test_at_the_counter_a_qr_code_is_made_for_everything_owed(app, db, standin):
    async with browser(app) as http:
        # Given the steward at the counter, on the household's bills
        await log_in(http, STEWARD_XIUSHAN)
        path, page = await household_page(http, db)
        form = re.search(
            r'<form method="post" action="(/staff/households/[^"]+/bills/qr)"(.*?)</form>', page, re.S
        )
        assert form
        fields = {n: unescape(v) for n, v in re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(2))}
        # When they ask for the QR code
        made = await http.post(form.group(1), data=fields)
        # Then a Native order is made and its page shows the QR code to scan or print
        assert made.status_code == 303 and re.fullmatch(r"/staff/payments/[^/]+/qr", made.headers["location"])
        shown = await open_page(http, made.headers["location"])
        assert "<svg" in shown and 'class="login-card"' in shown
        # And the same form sent again (a double tap) makes no second order
        again = await http.post(form.group(1), data=fields)
        assert again.headers["location"] == made.headers["location"]
    [(order_path, body)] = standin.orders
    sent = json.loads(body)
    assert order_path == "/v3/pay/transactions/native" and "payer" not in sent and "scene_info" not in sent
    payment = (await db.exec(select(Payment).where(Payment.method == "wechat"))).one()
    owed = list(
        await db.exec(
            select(Bill).where(Bill.household_id == payment.household_id, Bill.paid_fen < Bill.amount_fen)
        )
    )
    assert payment.pay_url == CODE_URL and payment.amount_fen == sent["amount"]["total"]
    assert sorted(payment.bill_ids) == sorted(b.id for b in owed if b.outstanding_fen > 0)


async def test_a_stranger_cannot_make_or_see_a_counter_qr_code(app, db, standin):
    async with browser(app) as http:
        await log_in(http, STEWARD_XIUSHAN)
        path, page = await household_page(http, db)
        action = re.search(r'action="(/staff/households/[^"]+/bills/qr)"', page).group(1)
        fields = dict(re.findall(r'name="(bill_ids|key)" value="([^"]*)"', page))
        made = await http.post(action, data={**fields, "csrf_token": csrf_in(page)})
        qr_page = made.headers["location"]
    for phone in (STEWARD_YUEYANG, RESIDENT_JINGJU, RESIDENT_XIUSHAN):
        async with browser(app) as stranger:
            await log_in(stranger, phone)
            token = csrf_in(await open_page(stranger, "/"))
            assert (await stranger.get(qr_page)).status_code == 404
            refused = await stranger.post(action, data={**fields, "key": "other", "csrf_token": token})
            assert refused.status_code == 404
    assert len(standin.orders) == 1
