// A plan run, step by step: what each step would touch (its dry run), who must approve,
// and approve / reject buttons. The server enforces the two-person rule: the requester's
// own approve comes back refused and is shown as such. A step waiting for approval counts
// down to its time-out; a notify-merchants step shows its per-merchant delivery.
import { api, el, link, note, param, token } from "/wall/command.js";

let runId = param("run");
// deadlines are on the server's command clock (the stream's time), not this browser's:
// count from the run's `now_ms`, moved on by the time since it was fetched
let clock = { serverMs: 0, seenAt: 0 };
const serverNow = () => clock.serverMs + (performance.now() - clock.seenAt);
const NOTICE_STATES = ["pending", "sent", "failed", "acked", "cancelled"];
const HAS_NOTICES = ["running", "done", "failed", "undone"]; // steps that may have applied

function leftText(deadline) {
  const ms = deadline - serverNow();
  if (ms <= 0) return "time-out due";
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${h ? `${h}h ` : ""}${h || m ? `${m}m ` : ""}${sec}s left`;
}

function tickLeft() {
  for (const e of document.querySelectorAll("[data-deadline]")) {
    const text = leftText(Number(e.dataset.deadline));
    e.textContent = text;
    e.classList.toggle("soon", Number(e.dataset.deadline) - serverNow() < 60_000);
  }
}

// one step's outbox: counts per state, then each failure (or retry) with its last error
function deliveryRow(s, notices, endpoints) {
  const mine = notices.filter((n) => n.ref === `run:${runId}/step:${s.idx}`);
  const counts = Object.fromEntries(NOTICE_STATES.map((k) => [k, 0]));
  for (const n of mine) counts[n.state] = (counts[n.state] || 0) + 1;
  const troubled = mine.filter((n) => n.state === "failed" || (n.state === "pending" && n.last_error));
  return el("tr", { class: "cm-delivery", "data-delivery": s.idx },
    el("td", {}),
    el("td", { colspan: 5 },
      el("div", { "data-testid": `delivery-${s.idx}` }, "delivery to ", el("b", {}, mine.length), " merchants: ",
        ...NOTICE_STATES.filter((k) => k !== "cancelled" || counts[k]).flatMap((k, i) => [
          i ? " · " : "",
          el("span", { class: `cm-state ${k}`, "data-testid": `dcount-${s.idx}-${k}` }, counts[k]), ` ${k}`,
        ])),
      endpoints.error ? el("div", { class: "cm-note bad" }, `merchant endpoints: ${endpoints.error}`) : null,
      troubled.length
        ? el("table", { class: "cm-fail", "data-testid": `dfails-${s.idx}` },
          el("tbody", {}, ...troubled.map((n) =>
            el("tr", { "data-testid": `dfail-${s.idx}-${n.merchant_id}` },
              el("td", {}, n.merchant_id, endpoints.has[n.merchant_id] === false ? el("div", { class: "cm-sub" }, "no endpoint") : null),
              el("td", {}, el("span", { class: `cm-state ${n.state}` }, n.state === "pending" ? "retrying" : n.state),
                el("div", { class: "cm-sub" }, `attempt ${n.attempts}`)),
              el("td", { class: "cm-ids" }, n.last_error)))))
        : null,
    ));
}

async function deliveries(run) {
  const steps = run.steps.filter((s) => s.action === "notify_merchants" && HAS_NOTICES.includes(s.state));
  if (!steps.length) return { notices: [], endpoints: { has: {}, error: "" } };
  const [lists, book] = await Promise.all([
    Promise.all(steps.map((s) => api(`/notices?ref=${encodeURIComponent(`run:${run.id}/step:${s.idx}`)}`))),
    api("/notices/merchants"),
  ]);
  const has = Object.fromEntries(book.merchants.map((m) => [m.merchant_id, m.endpoint]));
  return { notices: lists.flat(), endpoints: { has, error: book.endpoints_error } };
}

const touches = (t) =>
  t ? Object.entries(t.counts).map(([k, n]) => `${n} ${k}${t.ids[k]?.length ? ": " + t.ids[k].slice(0, 20).join(", ") : ""}`).join("; ") || "nothing" : "";

async function decide(idx, verb) {
  try {
    await api(`/runs/${runId}/steps/${idx}/${verb}`, { method: "POST", ...(verb === "reject" ? { body: { reason: "rejected on the page" } } : {}) });
    note("run-note", `step ${idx} ${verb === "approve" ? "approved" : "rejected"}`, true);
  } catch (e) {
    note("run-note", `refused: ${e.message}`);
  }
  await refresh();
}

async function showRun() {
  if (!runId) return;
  const run = await api(`/runs/${runId}`);
  clock = { serverMs: run.now_ms, seenAt: performance.now() };
  const { notices, endpoints } = await deliveries(run);
  document.getElementById("run-head").replaceChildren(
    el("h1", { class: "cm-title" }, `Run ${run.id}: ${run.title}`),
    el("div", { class: "cm-sub" }, "requested by ", el("b", { "data-testid": "requester" }, run.requested_by),
      " · state ", el("span", { class: `cm-state ${run.state}`, "data-testid": "run-state" }, run.state),
      " · params ", JSON.stringify(run.params),
      run.incident_id ? el("a", { href: link("incident.html", `id=${run.incident_id}`), style: "margin-left:10px;color:var(--blue)" }, `incident ${run.incident_id}`) : null),
    ["done", "failed", "rejected", "timed_out"].includes(run.state)
      ? el("button", { class: "cm no", "data-testid": "undo", onclick: () => api(`/runs/${runId}/undo`, { method: "POST" }).then(showRun, (e) => note("run-note", `refused: ${e.message}`)) }, "Undo run")
      : "", // replaceChildren would print a null as the text "null"
  );
  document.getElementById("steps").replaceChildren(
    ...run.steps.flatMap((s) => [
      el("tr", { "data-step": s.idx },
        el("td", {}, s.idx),
        el("td", {}, el("b", {}, s.title), el("div", { class: "cm-sub" }, s.action)),
        el("td", {}, s.approve, s.decided_by ? el("div", { class: "cm-sub" }, `by ${s.decided_by}`) : null),
        el("td", {}, el("span", { class: `cm-state ${s.state}`, "data-testid": `state-${s.idx}` }, s.state),
          s.state === "waiting_approval" && s.deadline_ms != null
            ? el("div", { class: "cm-left", "data-testid": `left-${s.idx}`, "data-deadline": s.deadline_ms, title: "before this step times out" }, leftText(s.deadline_ms))
            : null,
          s.error ? el("div", { class: "cm-sub" }, s.error) : null),
        el("td", { class: "cm-ids" }, touches(s.result.applied || s.result.preview)),
        el("td", {}, s.state === "waiting_approval"
          ? [el("button", { class: "cm ok", "data-testid": `approve-${s.idx}`, onclick: () => decide(s.idx, "approve") }, "Approve"),
             el("button", { class: "cm no", "data-testid": `reject-${s.idx}`, onclick: () => decide(s.idx, "reject") }, "Reject")]
          : null),
      ),
      s.action === "notify_merchants" && HAS_NOTICES.includes(s.state) ? deliveryRow(s, notices, endpoints) : null,
    ].filter(Boolean)),
  );
}

async function showRuns() {
  const runs = await api("/runs");
  document.getElementById("runs").replaceChildren(
    ...runs.slice(0, 30).map((r) =>
      el("tr", {}, el("td", {}, el("a", { href: link("run.html", `run=${r.id}`), style: "color:var(--blue)", onclick: (e) => { e.preventDefault(); runId = String(r.id); history.replaceState(null, "", link("run.html", `run=${r.id}`)); refresh(); } }, `#${r.id} ${r.plan}`)),
        el("td", {}, el("span", { class: `cm-state ${r.state}` }, r.state)))),
  );
}

function params() {
  try { return JSON.parse(document.getElementById("params").value || "{}"); } catch { throw new Error("parameters: not JSON"); }
}

async function init() {
  try {
    const me = await api("/broadcast/me");
    document.getElementById("me").textContent = `${me.person} (${me.role})`;
  } catch (e) { note("run-note", e.message); }
  for (const id of ["nav-incidents", "nav-broadcast"]) if (token) document.getElementById(id).href += `#token=${encodeURIComponent(token)}`;
  const plans = await api("/plans");
  document.getElementById("plan").replaceChildren(...plans.map((p) => el("option", { value: p.name }, p.title)));
  document.getElementById("dry").addEventListener("click", async () => {
    try {
      const steps = await api(`/plans/${document.getElementById("plan").value}/dry-run`, { method: "POST", body: { params: params() } });
      note("start-note", "");
      document.getElementById("dry-rows").replaceChildren(...steps.map((s) => el("tr", {}, el("td", {}, s.step), el("td", { class: "cm-ids" }, touches(s)))));
    } catch (e) { note("start-note", e.message); }
  });
  document.getElementById("start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const run = await api("/runs", { method: "POST", body: { plan: document.getElementById("plan").value, params: params() } });
      runId = String(run.id);
      history.replaceState(null, "", link("run.html", `run=${run.id}`));
      note("start-note", `run ${run.id} started`, true);
      await refresh();
    } catch (e) { note("start-note", e.message); }
  });
  await refresh();
  setInterval(refresh, 2000); // another person's decision shows here within 2 s
  setInterval(tickLeft, 1000); // the countdown moves between polls
}

async function refresh() {
  try { await Promise.all([showRun(), showRuns()]); window.__run = { ok: (window.__run?.ok || 0) + 1 }; }
  catch (e) { note("run-note", e.message); }
}

init();
