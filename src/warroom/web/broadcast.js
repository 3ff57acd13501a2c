// The broadcast channel: my messages over SSE (each shown once, keyed by message id; a
// re-send flashes the one on screen), an Ack button, and a live roll-call of who has
// not acknowledged. EventSource resends Last-Event-ID after a drop, so nothing repeats.
import { api, el, note, token } from "/wall/command.js";

const state = { me: null, lastId: null, shown: new Map(), events: 0, rollcall: new Set() };
window.__feed = state;

function card(d) {
  const ack = el("button", { class: "cm ok", "data-testid": `ack-${d.message_id}`, onclick: () => acknowledge(d.message_id) }, "Ack");
  const box = el("div", { class: "cm-msg", "data-message": d.message_id, "data-testid": "message" },
    el("div", { class: "text" }, d.text),
    el("div", { class: "cm-sub" }, `#${d.message_id} from ${d.sender} to ${d.audience.join(", ")}`),
    ack);
  return { box, ack };
}

function mark(id, acked) {
  const c = state.shown.get(id);
  if (c && acked) c.ack.replaceWith(el("span", { class: "cm-state acked", "data-testid": `acked-${id}` }, "acknowledged"));
}

async function acknowledge(id) {
  try {
    await api(`/broadcast/messages/${id}/ack`, { method: "POST" });
    mark(id, true);
  } catch (e) { note("send-note", e.message); }
}

function onEvent(ev) {
  const d = JSON.parse(ev.data);
  state.lastId = ev.lastEventId;
  state.events += 1;
  if (d.kind === "ack") {
    if (d.person === state.me) mark(d.message_id, true);
    if (state.rollcall.has(d.message_id)) rollcall();
    return;
  }
  let c = state.shown.get(d.message_id);
  if (!c) {
    c = card(d);
    state.shown.set(d.message_id, c);
    document.getElementById("feed").prepend(c.box);
  } else {
    c.box.classList.remove("flash");
    void c.box.offsetWidth; // restart the animation: the re-send alerts again
    c.box.classList.add("flash");
  }
  if (state.rollcall.has(d.message_id)) rollcall();
}

function connect() {
  const q = new URLSearchParams();
  if (token) q.set("access_token", token); // EventSource sets no headers
  if (state.lastId) q.set("last_event_id", state.lastId); // a new EventSource sends none
  const es = new EventSource(`/api/v1/broadcast/stream?${q}`);
  for (const kind of ["message", "resend", "escalation", "ack"]) es.addEventListener(kind, onEvent);
  es.onopen = () => document.getElementById("conn").classList.remove("down");
  es.onerror = () => {
    document.getElementById("conn").classList.add("down");
    if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(connect, 1000); }
  };
}

async function rollcall() {
  const msgs = await api("/broadcast/messages?limit=10");
  state.rollcall = new Set(msgs.map((m) => m.id));
  document.getElementById("rollcall").replaceChildren(
    ...msgs.map((m) =>
      el("div", { class: "cm-msg", "data-rollcall": m.id },
        el("div", {}, el("b", {}, `#${m.id}`), " ", m.text),
        el("div", { class: "cm-people" },
          ...m.acked.map((p) => el("span", { class: "yes", "data-testid": `rc-acked-${m.id}` }, `✓ ${p}`)),
          ...m.pending.map((p) => el("span", { class: "no", "data-testid": `rc-pending-${m.id}` }, `… ${p}`))),
        el("div", { class: "cm-sub" }, `${m.acked.length} of ${m.acked.length + m.pending.length} acknowledged`))));
}

async function init() {
  try {
    const me = await api("/broadcast/me");
    state.me = me.person;
    document.getElementById("me").textContent = `${me.person} (${me.roles.join(", ")})`;
  } catch (e) { note("send-note", e.message); }
  for (const id of ["nav-runs", "nav-incidents"]) if (token) document.getElementById(id).href += `#token=${encodeURIComponent(token)}`;
  document.getElementById("send").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const roles = document.getElementById("roles").value.split(",").map((r) => r.trim()).filter(Boolean);
    try {
      const m = await api("/broadcast", { method: "POST", body: { message: document.getElementById("text").value, roles, ack_within: document.getElementById("within").value } });
      note("send-note", `message ${m.id} sent`, true);
      await rollcall();
    } catch (e) { note("send-note", e.message); }
  });
  connect();
  await rollcall().catch(() => {});
  setInterval(() => rollcall().catch(() => {}), 5000); // escalations go to others' feeds
}

init();
