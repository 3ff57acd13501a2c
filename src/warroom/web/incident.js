// One incident: status, roles, its plan runs, the timeline of everything that happened,
// status buttons and notes; the review as Markdown or HTML. The list on the right.
import { api, el, link, note, param, token, utc } from "/wall/command.js";

let id = param("id");

async function act(fn) {
  try { await fn(); note("note", ""); } catch (e) { note("note", e.message); }
  await refresh();
}

async function showIncident() {
  if (!id) return;
  const [inc, events] = await Promise.all([api(`/incidents/${id}`), api(`/incidents/${id}/timeline`)]);
  document.getElementById("head").replaceChildren(
    el("h1", { class: "cm-title" }, `Incident ${inc.id}: ${inc.title}`),
    el("div", { class: "cm-sub" }, el("span", { class: `cm-state ${inc.status}`, "data-testid": "status" }, inc.status),
      ` · ${inc.severity} · from ${inc.source} · declared ${utc(inc.created_ms)}`,
      inc.resolved_ms ? ` · resolved ${utc(inc.resolved_ms)}` : ""),
    el("div", { class: "cm-sub", "data-testid": "roles" }, Object.entries(inc.roles).map(([r, p]) => `${r}: ${p}`).join(" · ")),
    el("div", { class: "cm-nav" }, ...inc.runs.map((r) => el("a", { href: link("run.html", `run=${r.id}`) }, `run #${r.id} ${r.plan} (${r.state})`))),
  );
  document.getElementById("actions").hidden = inc.status === "resolved";
  document.getElementById("review").replaceChildren(
    el("a", { href: "#", "data-testid": "review-md", onclick: (e) => { e.preventDefault(); download("md"); } }, "review (Markdown)"),
    el("a", { href: "#", "data-testid": "review-html", onclick: (e) => { e.preventDefault(); download("html"); } }, "review (HTML)"),
  );
  document.getElementById("timeline").replaceChildren(
    ...events.map((e) => el("tr", { "data-kind": e.kind }, el("td", {}, utc(e.ts_ms)), el("td", {}, e.kind), el("td", {}, e.actor), el("td", {}, e.text))),
  );
}

// the review needs the token in a header, so it is fetched and handed over as a file
async function download(kind) {
  const text = await api(`/incidents/${id}/review.${kind}`);
  const blob = new Blob([text], { type: kind === "md" ? "text/markdown" : "text/html" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `incident-${id}.${kind}` });
  a.click();
  URL.revokeObjectURL(a.href);
}

async function showList() {
  const all = await api("/incidents");
  document.getElementById("incidents").replaceChildren(
    ...all.slice(0, 40).map((i) => el("tr", {},
      el("td", {}, el("a", { href: link("incident.html", `id=${i.id}`), style: "color:var(--blue)" }, `#${i.id} ${i.title}`)),
      el("td", {}, el("span", { class: `cm-state ${i.status}` }, i.status)))),
  );
}

async function refresh() {
  try { await Promise.all([showIncident(), showList()]); }
  catch (e) { note("note", e.message); }
}

async function init() {
  try {
    const me = await api("/broadcast/me");
    document.getElementById("me").textContent = `${me.person} (${me.role})`;
  } catch (e) { note("note", e.message); }
  for (const n of ["nav-runs", "nav-broadcast"]) if (token) document.getElementById(n).href += `#token=${encodeURIComponent(token)}`;
  const status = (s) => () => act(() => api(`/incidents/${id}/status`, { method: "POST", body: { status: s } }));
  document.getElementById("to-mitigated").addEventListener("click", status("mitigated"));
  document.getElementById("to-resolved").addEventListener("click", status("resolved"));
  document.getElementById("assign").addEventListener("click", () => act(() =>
    api(`/incidents/${id}/roles/${encodeURIComponent(document.getElementById("role").value)}`, { method: "PUT", body: { person: document.getElementById("person").value } })));
  document.getElementById("add-note").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api(`/incidents/${id}/notes`, { method: "POST", body: { text: document.getElementById("note-text").value } }));
  });
  document.getElementById("declare").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const inc = await api("/incidents", { method: "POST", body: { title: document.getElementById("title").value, severity: document.getElementById("severity").value } });
      id = String(inc.id);
      history.replaceState(null, "", link("incident.html", `id=${inc.id}`));
    } catch (e) { note("note", e.message); }
    await refresh();
  });
  await refresh();
  setInterval(refresh, 3000);
}

init();
