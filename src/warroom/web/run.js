// A plan run, step by step: what each step would touch (its dry run), who must approve,
// and approve / reject buttons. The server enforces the two-person rule: the requester's
// own approve comes back refused and is shown as such.
import { api, el, link, note, param, token } from "/wall/command.js";

let runId = param("run");
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
  document.getElementById("run-head").replaceChildren(
    el("h1", { class: "cm-title" }, `Run ${run.id}: ${run.title}`),
    el("div", { class: "cm-sub" }, "requested by ", el("b", { "data-testid": "requester" }, run.requested_by),
      " · state ", el("span", { class: `cm-state ${run.state}`, "data-testid": "run-state" }, run.state),
      " · params ", JSON.stringify(run.params),
      run.incident_id ? el("a", { href: link("incident.html", `id=${run.incident_id}`), style: "margin-left:10px;color:var(--blue)" }, `incident ${run.incident_id}`) : null),
    ["done", "failed", "rejected", "timed_out"].includes(run.state)
      ? el("button", { class: "cm no", "data-testid": "undo", onclick: () => api(`/runs/${runId}/undo`, { method: "POST" }).then(showRun, (e) => note("run-note", `refused: ${e.message}`)) }, "Undo run")
      : null,
  );
  document.getElementById("steps").replaceChildren(
    ...run.steps.map((s) =>
      el("tr", { "data-step": s.idx },
        el("td", {}, s.idx),
        el("td", {}, el("b", {}, s.title), el("div", { class: "cm-sub" }, s.action)),
        el("td", {}, s.approve, s.decided_by ? el("div", { class: "cm-sub" }, `by ${s.decided_by}`) : null),
        el("td", {}, el("span", { class: `cm-state ${s.state}`, "data-testid": `state-${s.idx}` }, s.state), s.error ? el("div", { class: "cm-sub" }, s.error) : null),
        el("td", { class: "cm-ids" }, touches(s.result.applied || s.result.preview)),
        el("td", {}, s.state === "waiting_approval"
          ? [el("button", { class: "cm ok", "data-testid": `approve-${s.idx}`, onclick: () => decide(s.idx, "approve") }, "Approve"),
             el("button", { class: "cm no", "data-testid": `reject-${s.idx}`, onclick: () => decide(s.idx, "reject") }, "Reject")]
          : null),
      )),
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
}

async function refresh() {
  try { await Promise.all([showRun(), showRuns()]); window.__run = { ok: (window.__run?.ok || 0) + 1 }; }
  catch (e) { note("run-note", e.message); }
}

init();
