// Paying inside WeChat (JSAPI): hand the signed order to WeChat's payment sheet, then ask the server where the
// payment stands, as the "Check again" button does. WeChat's word in the browser is never taken as paid: only
// the server's answer, from WeChat Pay itself, is shown.

const section = document.querySelector("[data-wechat-pay]");
const refresh = document.querySelector("form[data-refresh-payment]");

function params() {
  const d = section.dataset;
  return {
    appId: d.appId,
    timeStamp: d.timeStamp,
    nonceStr: d.nonceStr,
    package: d.package,
    signType: d.signType,
    paySign: d.paySign,
  };
}

function whenBridgeReady(then) {
  if (typeof window.WeixinJSBridge !== "undefined") then();
  else document.addEventListener("WeixinJSBridgeReady", then, { once: true });
}

function pay() {
  whenBridgeReady(() => {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params(), (result) => {
      // ok, cancel or fail: in every case the server asks WeChat Pay and the page shows what it says.
      if (result && result.err_msg !== "get_brand_wcpay_request:cancel" && refresh) refresh.submit();
    });
  });
}

if (section) {
  const button = section.querySelector("[data-wechat-pay-button]");
  section.querySelector("[data-wechat-pay-needs-script]").hidden = true;
  button.hidden = false;
  button.addEventListener("click", pay);
  // Arrived from the bills page's Pay button: open WeChat's payment sheet without a second tap.
  if (section.hasAttribute("data-wechat-pay-start")) {
    history.replaceState(null, "", window.location.pathname);
    pay();
  }
}
