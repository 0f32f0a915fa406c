// My bills: the total and the Pay button follow the months ticked. The page works without this file (the
// "Work out the total" button asks the server, and a Pay whose total no longer matches shows the months
// again with the server's total); with it, the button always says what will be paid.

const yuan = (fen) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;

for (const form of document.querySelectorAll("form[data-pay-months]")) {
  const boxes = [...form.querySelectorAll('input[name="bill"]')];
  const total = form.querySelector("[data-total]");
  const expected = form.querySelector("[data-expected]");
  const button = form.querySelector("[data-pay-button]");
  const review = form.querySelector("[data-review]");
  if (review) review.hidden = true;
  const update = () => {
    const fen = boxes.filter((box) => box.checked).reduce((sum, box) => sum + Number(box.dataset.fen), 0);
    total.textContent = yuan(fen);
    expected.value = String(fen);
    button.textContent = button.dataset.label.replace("{amount}", yuan(fen));
    button.disabled = fen === 0;
  };
  for (const box of boxes) box.addEventListener("change", update);
  update();
}
