"""Paying inside WeChat, in Chromium: the payment page's static script hands WeixinJSBridge exactly the signed
parameters, under the site's content security policy, then asks the server where the payment stands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from laoyou.web.edge import content_security_policy

from .test_policy import violations, watched

pytestmark = pytest.mark.browser

PARAMS = {
    "appId": "wxd678efh567hg6787",
    "timeStamp": "1780000000",
    "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    "package": "prepay_id=wx201410272009395522657a690389285100",
    "signType": "RSA",
    "paySign": "oR9d8PuhnIc+YZ8cBHFCwfgpaK9gd7vaRvkYD7rthRAZ/X+QBhcCYL21N7cHCTUxbQ+EAt6Uy+lwSN22f5YZvI45MLko8Pfso0jm46v5hqcVwrk6uddkGuT+Cdvu4WBqDzaDjnNa5UK3GfE1Wfl2gHxIIY5lLdUgWFts17D4WuolLLkiFZV+JSHMvH7eaLdT9N5GBovBwu5yYKUR7skR8Fu+LozcSqQixnlEZUfyE55feLOQTUYzLmR9pNtPbPsu6WVhbNHMS3Ss2+AehHvz+n64GDmXxbX++IOBvm2olHu3PsOUGRwhudhVf7UcGcunXt8cqNjKNqZLhLw4jq/xDg==",
}
# As billing/payment.html renders a pending JSAPI payment reached from the Pay button (?start=1).
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Payment</title></head><body><main>
<section class="card" data-wechat-pay data-wechat-pay-start data-app-id="{appId}" data-time-stamp="{timeStamp}"
  data-nonce-str="{nonceStr}" data-package="{package}" data-sign-type="{signType}" data-pay-sign="{paySign}">
  <button type="button" class="primary huge" data-wechat-pay-button hidden>Pay in WeChat</button>
  <p data-wechat-pay-needs-script>Paying in WeChat needs WeChat's own page.</p>
</section>
<script type="module" src="/static/js/wechat-pay.js"></script>
<form method="post" action="/payments/7/refresh" data-refresh-payment>
  <input type="hidden" name="csrf_token" value="t"><button type="submit">Check again</button>
</form>
</main></body></html>""".format(**PARAMS)

# WeChat's bridge as its browser provides it, answering the payment sheet with the outcome given by the test;
# what it was handed is kept across the page's navigation.
BRIDGE = """
window.__invoked = JSON.parse(sessionStorage.getItem("invoked") || "[]");
setTimeout(() => {
  window.WeixinJSBridge = {
    invoke(name, params, callback) {
      window.__invoked.push([name, params]);
      sessionStorage.setItem("invoked", JSON.stringify(window.__invoked));
      callback({ err_msg: window.__outcome || "get_brand_wcpay_request:ok" });
    },
  };
  document.dispatchEvent(new Event("WeixinJSBridgeReady"));
}, 50);
"""


def open_payment(new_context: Any, site_url: str, outcome: str) -> tuple[Any, list[str], list[str]]:
    page = new_context().new_page()
    problems = watched(page)
    page.add_init_script(BRIDGE + f"window.__outcome = {json.dumps(outcome)};")
    refreshed: list[str] = []
    headers = {"content-security-policy": content_security_policy(site_url.split("//", 1)[1])}
    page.route(
        "**/payments/7?start=1",
        lambda route: route.fulfill(status=200, body=PAGE, content_type="text/html", headers=headers),
    )

    def refresh(route: Any) -> None:
        refreshed.append(route.request.post_data or "")
        route.fulfill(status=200, body="<p>Paid. Thank you!</p>", content_type="text/html", headers=headers)

    page.route("**/payments/7/refresh", refresh)
    page.goto(f"{site_url}/payments/7?start=1")
    return page, problems, refreshed


def test_the_bridge_gets_the_signed_parameters_and_the_server_is_asked_after(new_context, site):
    # Given the payment page inside WeChat, just after tapping Pay
    page, problems, refreshed = open_payment(new_context, site["base_url"], "get_brand_wcpay_request:ok")
    # When WeChat's payment sheet closes after paying
    page.wait_for_url("**/payments/7/refresh")
    # Then the bridge was handed exactly the signed parameters, once, and the server was asked where it stands
    assert page.evaluate("window.__invoked") == [["getBrandWCPayRequest", PARAMS]]
    assert refreshed == ["csrf_token=t"]
    assert "Paid. Thank you!" in page.inner_text("body")
    assert not [p for p in problems if "Content Security Policy" in p] and not violations(page), problems


def test_a_cancelled_payment_leaves_the_big_button_to_try_again(new_context, site):
    page, problems, refreshed = open_payment(new_context, site["base_url"], "get_brand_wcpay_request:cancel")
    page.wait_for_function("window.__invoked.length === 1")
    button = page.get_by_role("button", name="Pay in WeChat")
    assert button.is_visible() and not page.get_by_text("needs WeChat's own page").is_visible()
    assert refreshed == [] and page.url.endswith("/payments/7")  # ?start=1 dropped: a reload opens no sheet
    button.click()
    page.wait_for_function("window.__invoked.length === 2")
    assert not problems, problems
