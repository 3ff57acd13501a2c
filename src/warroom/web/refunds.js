// The review queue: held refunds, riskiest first, each with its reasons; a reviewer with
// the `approve` permission pays or refuses it. The token comes from the URL fragment
// (#token=...) or the session, as on the wall.
const token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("warroom-token");
if (token) sessionStorage.setItem("warroom-token", token);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
let digits = 2;

async function api(path, options = {}) {
  const r = await fetch(`/api/v1/refunds${path}`, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : `HTTP ${r.status}`);
  return body;
}

function money(minor, base) {
  const v = (minor / 10 ** digits).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return base ? `${v} ${base}` : v;
}

const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(2)} %`);

function banner(text) {
  const b = document.getElementById("banner");
  b.hidden = !text;
  b.className = "banner down";
  b.textContent = text || "";
}

async function refresh() {
  try {
    const s = await api("/summary");
    digits = s.digits;
    document.getElementById("rf-rate").textContent = pct(s.refund_rate);
    document.getElementById("rf-auto").textContent = pct(s.auto_approved_share);
    document.getElementById("rf-pending").textContent = s.pending.toLocaleString("en-US");
    document.getElementById("rf-held").textContent = money(s.held_amount_minor, s.base);
    const q = await api("/queue?status=pending&limit=200");
    render(q.refunds, s.base);
    banner("");
  } catch (e) {
    banner(`refunds: ${e.message}`);
  }
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render(rows, base) {
  const body = document.getElementById("rf-rows");
  body.replaceChildren();
  document.getElementById("rf-empty").hidden = rows.length > 0;
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.refund = r.refund_id;
    cell(tr, r.refund_id);
    cell(tr, r.user_id);
    cell(tr, money(r.amount_minor, base), "num");
    cell(tr, r.risk.toFixed(2), "num rf-risk");
    const why = tr.insertCell();
    const ul = document.createElement("ul");
    for (const reason of r.reasons) {
      const li = document.createElement("li");
      li.textContent = reason;
      ul.append(li);
    }
    why.append(ul);
    const act = tr.insertCell();
    for (const [verdict, label, cls] of [["approve", "Approve", "ok"], ["reject", "Reject", "no"]]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.className = cls;
      b.dataset.verdict = verdict;
      b.onclick = () => decide(r.refund_id, verdict);
      act.append(b);
    }
  }
}

async function decide(refundId, verdict) {
  try {
    await api(`/${encodeURIComponent(refundId)}/verdict`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ verdict, note: "from the review page" }),
    });
  } catch (e) {
    banner(`${refundId}: ${e.message}`);
    return;
  }
  await refresh();
}

refresh();
setInterval(refresh, 5000);
