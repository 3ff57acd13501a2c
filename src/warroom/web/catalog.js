// The wall's Catalog indicator (issue 6): one compact line per open catalog finding from
// the frame's `catalog` block — kind, merchants, SKUs, orders not shipped / shipped,
// GMV at risk — with links to the finding's JSON and CSV. Kept out of wall.js on purpose.
const KIND = { sku_scramble: "SKU scramble", price_error: "price error" };

// The API wants a bearer token (a link cannot send one): fetch, then open the body.
function openAuthed(ev, token) {
  if (!token) return; // an --open wall: the plain link works
  ev.preventDefault();
  const href = ev.currentTarget.getAttribute("href");
  fetch(href, { headers: { Authorization: `Bearer ${token}` } })
    .then((r) => r.blob())
    .then((b) => window.open(URL.createObjectURL(b), "_blank"));
}

function link(text, href, token) {
  const a = Object.assign(document.createElement("a"), { textContent: text, href, target: "_blank" });
  a.addEventListener("click", (ev) => openAuthed(ev, token));
  return a;
}

export function renderCatalog(catalog, money, token) {
  const box = document.getElementById("catalog");
  if (!box) return;
  const findings = (catalog && catalog.findings) || [];
  box.hidden = !catalog; // no snapshot given to the server: no guard, no indicator
  if (!catalog) return;
  const head = Object.assign(document.createElement("div"), {
    className: "cat-head", textContent: findings.length ? `catalog: ${findings.length} open` : "catalog: clean",
  });
  const rows = findings.slice(0, 3).map((f) => {
    const div = document.createElement("div");
    div.className = `cat-row sev-${f.severity}`;
    div.dataset.finding = f.id;
    const m = f.merchants.length;
    div.append(
      `${KIND[f.kind] || f.kind}${f.mass ? " (mass)" : ""} · ${m} merchant${m === 1 ? "" : "s"} · `
      + `${f.skus} SKUs · GMV at risk ${money(f.gmv_at_risk, true)}`,
      document.createElement("br"),
      `orders ${f.orders_not_shipped} not shipped / ${f.orders_shipped} shipped · `,
      link("json", f.json, token), " ", link("csv", f.csv, token),
    );
    return div;
  });
  box.replaceChildren(head, ...rows);
}
