// What the command pages share: the token (URL fragment or session, as on the wall),
// calls to the API in its one error shape, and small DOM helpers.
export const token =
  new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("warroom-token");
if (token) sessionStorage.setItem("warroom-token", token);
const headers = token ? { Authorization: `Bearer ${token}` } : {};

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(`/api/v1${path}`, init);
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(data.error ? data.error.message : `HTTP ${r.status}`);
  return data;
}

// el("td", {class: "x"}, "text", child...) without innerHTML: nothing the API says is markup
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

export function note(where, text, good = false) {
  const box = document.getElementById(where);
  box.replaceChildren(text ? el("div", { class: `cm-note ${good ? "good" : "bad"}`, "data-testid": "note" }, text) : "");
}

export const utc = (ms) => (ms == null ? "–" : new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z");
export const param = (name) => new URLSearchParams(location.search).get(name);
export const link = (page, q) => `/wall/${page}?${q}${token ? `#token=${encodeURIComponent(token)}` : ""}`;
