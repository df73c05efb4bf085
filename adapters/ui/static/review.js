// The review page's keyboard contract (SPEC 5.3): a approves, r rejects, a class's first character approves with
// that label, j/k or the arrow keys move; after a decision the next undecided item becomes current.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const items = data.items;
  const rows = document.querySelectorAll("#items li");
  const forms = document.querySelectorAll("form.decide");
  const csrf = forms[0].querySelector("input[name=csrf]").value;
  const select = document.querySelector("form.decide select[name=label]");
  let current = data.current;
  let busy = false;

  function text(id, value) { document.getElementById(id).textContent = value; }

  function percent(value) { return value === null ? "-" : (100 * value).toFixed(1) + "%"; }

  function show(index) {
    if (index < 0 || index >= items.length) { return; }
    rows[current].classList.remove("current");
    current = index;
    const item = items[current];
    const base = "/ui/campaigns/" + data.campaign + "/review/" + encodeURIComponent(item.item);
    rows[current].classList.add("current");
    rows[current].scrollIntoView({block: "nearest"});
    document.getElementById("image").src = base + "/image";
    text("predicted", item.predicted_label || "-");
    text("confidence", percent(item.confidence));
    text("user-label", item.label);
    text("label-source", item.label_source === "comment" ? "(from the comment)" : "(from the corrected label)");
    text("comment", item.comment || "-");
    text("reasons", item.why.join("; "));
    text("image-type", item.image_type || "-");
    text("item-ref", item.item);
    text("decision", item.decision
      ? item.decision + (item.decided_label ? " as " + item.decided_label : "") + " by " + item.actor
      : "none yet");
    text("status", "");
    forms.forEach(function (form) { form.action = base; });
    select.value = item.label;
    history.replaceState(null, "", "?item=" + encodeURIComponent(item.item));
  }

  function progress() {
    const decided = items.filter(function (item) { return item.decision; }).length;
    text("progress", decided + " of " + items.length + " decided");
    return decided;
  }

  function nextUndecided() {
    for (let step = 1; step <= items.length; step += 1) {
      const index = (current + step) % items.length;
      if (!items[index].decision) { return index; }
    }
    return -1;
  }

  function decide(decision, label) {
    if (busy) { return; }
    busy = true;
    const item = items[current];
    const body = new URLSearchParams({csrf: csrf, decision: decision});
    if (label) { body.set("label", label); }
    fetch("/ui/campaigns/" + data.campaign + "/review/" + encodeURIComponent(item.item), {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRF-Token": csrf},
    }).then(function (response) {
      return response.json().then(function (answer) { return {ok: response.ok, answer: answer}; });
    }).then(function (result) {
      if (!result.ok) { text("status", result.answer.detail || "The decision was refused."); return; }
      item.decision = result.answer.decision;
      item.decided_label = result.answer.label;
      item.actor = result.answer.actor;
      rows[current].classList.remove("undecided");
      rows[current].classList.add(item.decision);
      rows[current].querySelector(".badge").textContent = item.decision;
      if (item.decided_label) { rows[current].querySelector(".label").textContent = item.decided_label; }
      const decided = progress();
      const next = nextUndecided();
      if (next >= 0) { show(next); } else {
        show(current);
        text("status", "All " + decided + " items are decided: the campaign moves on to training.");
      }
    }).catch(function () {
      text("status", "The server could not be reached; the decision was not recorded.");
    }).finally(function () { busy = false; });
  }

  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const label = form.querySelector("select[name=label]");
      decide(form.querySelector("input[name=decision]").value, label ? label.value : null);
    });
  });

  rows.forEach(function (row) {
    row.querySelector("a").addEventListener("click", function (event) {
      event.preventDefault();
      show(Number(row.dataset.index));
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea")) { return; }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    let handled = true;
    if (key === "a") { decide("approved", null); }
    else if (key === "r") { decide("rejected", null); }
    else if (key === "j" || key === "ArrowDown" || key === "ArrowRight") { show(current + 1); }
    else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") { show(current - 1); }
    else if (Object.prototype.hasOwnProperty.call(data.keys, key)) { decide("approved", data.keys[key]); }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });

  show(current);
}());
