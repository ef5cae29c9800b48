// Terminal page: shows each screen the server pushes over server-sent events,
// and sends the QR field, the quantity and the PIN as form posts.
"use strict";

// The server-sent event stream; it also delivers the screen of every QR scan this page posts.
let events = null;

function byId(id) { return document.getElementById(id); }

function fillList(list, lines) {
  list.replaceChildren(...lines.map((line) => {
    const item = document.createElement("li");
    item.textContent = line;
    return item;
  }));
}

function showScreen(screen) {
  const panel = byId("screen");
  if (screen.kind === "notice") {
    byId("notice").textContent = screen.text;
    return;
  }
  byId("notice").textContent = "";
  if (screen.kind === "clear") {
    panel.dataset.state = "waiting";
    byId("result").hidden = true;
    byId("waiting").hidden = false;
    return;
  }
  chooseQuantity(1);
  panel.dataset.state = screen.accepted ? "accepted" : "refused";
  panel.dataset.reason = screen.reason || "";
  byId("waiting").hidden = true;
  byId("result").hidden = false;
  for (const field of ["word", "name", "card", "entitlement", "remaining", "message", "note", "receipt"]) {
    byId(field).textContent = screen[field] || "";
  }

  const reprint = byId("reprint");
  byId("receipt-panel").hidden = !screen.receipt_number;
  reprint.hidden = !screen.receipt_number;
  reprint.dataset.number = screen.receipt_number || "";

  const photo = byId("photo");
  photo.hidden = !screen.photo;
  if (screen.photo) { photo.src = screen.photo; } else { photo.removeAttribute("src"); }
  const kiosk = document.body.dataset.mode === "kiosk" && screen.accepted;
  byId("kiosk").hidden = !kiosk;
  if (kiosk) {
    fillList(byId("standings"), screen.standings);
    fillList(byId("history"), screen.history);
    byId("no-history").hidden = screen.history.length > 0;
    byId("no-history").textContent = screen.no_history;
    byId("history-note").textContent = screen.history_note;
  }
}

function showStatus(status) {
  byId("status").dataset.stale = String(status.stale);
  byId("status-sync").textContent = status.sync;
  byId("status-pending").textContent = status.pending;
  byId("status-trust").textContent = status.trust;
  byId("status-revocation").textContent = status.revocation;
  byId("status-warning").textContent = status.warning;
}

async function post(url, fields) {
  const response = await fetch(url, { method: "POST", body: new URLSearchParams(fields) });
  return { ok: response.ok, body: await response.json() };
}

function connect() {
  events = new EventSource("/events");
  events.addEventListener("screen", (event) => showScreen(JSON.parse(event.data)));
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
  events.onopen = () => { byId("connection").hidden = true; };
  events.onerror = () => { byId("connection").hidden = false; };
}

function chooseQuantity(value) {
  byId("quantity").value = value;
  for (const button of document.querySelectorAll("button.quantity")) {
    button.classList.toggle("chosen", button.dataset.quantity === String(value));
  }
}

function setUpQr() {
  const form = byId("qr-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = byId("qr-text").value;
    byId("qr-text").value = "";
    const answer = await post("/qr", { text, quantity: byId("quantity").value });
    chooseQuantity(1);
    if (!answer.ok) {
      showScreen({ kind: "notice", text: answer.body.error });
    } else if (events === null || events.readyState !== EventSource.OPEN) {
      // The open stream already showed this screen, and may since have added a failed receipt to it.
      showScreen(answer.body);
    }
    byId("qr-text").focus();
  });
}

function setUpReprint() {
  const button = byId("reprint");
  button.addEventListener("click", async () => {
    const answer = await post("/receipt/reprint", { number: button.dataset.number });
    byId("receipt").textContent = answer.ok ? answer.body.message : answer.body.error;
    button.hidden = answer.ok;
  });
}

function setUpQuantity() {
  for (const button of document.querySelectorAll("button.quantity")) {
    button.addEventListener("click", async () => {
      const answer = await post("/quantity", { quantity: button.dataset.quantity });
      if (answer.ok) { chooseQuantity(button.dataset.quantity); }
      byId("qr-text").focus();
    });
  }
}

function setUpPin() {
  const form = byId("pin-form");
  if (!form) { return; }
  const pin = byId("pin");
  for (const key of document.querySelectorAll("#keypad button[data-digit]")) {
    key.addEventListener("click", () => { if (pin.value.length < 8) { pin.value += key.dataset.digit; } });
  }
  byId("pin-clear").addEventListener("click", () => { pin.value = ""; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post("/pin", { pin: pin.value });
    pin.value = "";
    byId("pin-message").textContent = answer.ok ? answer.body.message : answer.body.error;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  connect();
  setUpQr();
  setUpQuantity();
  setUpPin();
  setUpReprint();
});
