"""`warroom review`: the after-action report, one self-contained HTML page (inline SVG).

Money is shown in the base currency and, per currency, in each currency's own units
(exact, from the cube's currency grouping sets); the rates table recorded with the run
is printed as read, so any base figure can be re-derived. Incidents and their timelines
come from the command layer's tables in the same store; an alerts file is an extra.
"""

from __future__ import annotations

import html
import json
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from warroom.browser import CHROMIUM, HEADLESS_ARGS
from warroom.campaigns.model import CampaignFile, Clock
from warroom.campaigns.progress import CURRENCY_SUMS, Progress, evaluate, latest
from warroom.campaigns.service import paused_states, stored_rates
from warroom.contract.rates import RatesTable
from warroom.engine.cube import GSET_ID
from warroom.engine.engine import MINUTE
from warroom.errors import WarroomError
from warroom.series.metrics import format_money
from warroom.store.db import Store

E = html.escape


def _num(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def _svg_cumulative(p: Progress) -> str:
    """Actual against planned, cumulative, with the target line."""
    pts = p.series_json()
    w, h, pad = 560, 180, 34
    target = p.target(p.primary) or 0.0
    top = max([target, *(x["actual"] for x in pts), 1e-9]) * 1.05
    span = max(1, p.end - p.start)

    def xy(t: int, v: float) -> str:
        x = pad + (w - 2 * pad) * (t - p.start) / span
        y = h - pad + 0 - (h - 2 * pad) * v / top
        return f"{x:.1f},{y:.1f}"

    plan = " ".join(xy(t, target * s) for t, s in p.plan)
    total = pts[-1]["actual"] if pts else 0.0
    actual = " ".join(
        [xy(p.start, 0)]
        + [xy(min(x["t"] + p.bucket_ms, p.end), x["actual"]) for x in pts]
        + [xy(max(p.start, min(p.now, p.end)), total)]  # flat to now: nothing since
    )
    ty = h - pad - (h - 2 * pad) * target / top
    return (
        f'<svg viewBox="0 0 {w} {h}" class="chart" role="img" '
        f'aria-label="{E(p.campaign.name)}: actual against plan">'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class="axis"/>'
        f'<line x1="{pad}" y1="{ty:.1f}" x2="{w - pad}" y2="{ty:.1f}" class="target"/>'
        f'<text x="{w - pad}" y="{ty - 4:.1f}" text-anchor="end" class="lbl">target '
        f"{_num(target)}</text>"
        f'<polyline points="{plan}" class="plan"/>'
        f'<polyline points="{actual}" class="actual"/>'
        f'<text x="{pad}" y="{h - 10}" class="lbl">start</text>'
        f'<text x="{w - pad}" y="{h - 10}" text-anchor="end" class="lbl">end</text>'
        "</svg>"
    )


def _svg_hours(p: Progress) -> str:
    """Per clock hour: bar of actual minus planned (green won, red lost)."""
    hours = p.hours
    if not hours:
        return '<p class="muted">No hour of this window has data yet.</p>'
    w, h, mid = 560, 120, 60
    big = max(abs(x["delta"]) for x in hours) or 1.0
    bw = (w - 20) / len(hours)
    bars = []
    for i, x in enumerate(hours):
        bh = (mid - 14) * abs(x["delta"]) / big
        y = mid - bh if x["delta"] >= 0 else mid
        cls = "won" if x["won"] else "lost"
        bars.append(
            f'<rect x="{10 + i * bw + 1:.1f}" y="{y:.1f}" width="{max(1.0, bw - 2):.1f}" '
            f'height="{max(bh, 0.5):.1f}" class="{cls}"><title>{x["hour"]}: '
            f"{_num(x['actual'])} vs {_num(x['planned'])} planned</title></rect>"
        )
        if len(hours) <= 24 and i % max(1, len(hours) // 8) == 0:
            bars.append(
                f'<text x="{10 + i * bw:.1f}" y="{h - 2}" class="lbl">{x["hour"][:2]}h</text>'
            )
    return (
        f'<svg viewBox="0 0 {w} {h}" class="chart" role="img" aria-label="hours won and lost">'
        f'<line x1="10" y1="{mid}" x2="{w - 10}" y2="{mid}" class="axis"/>{"".join(bars)}</svg>'
    )


def _decisive(hours: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The n hours that lost most and the n that won most, in clock order."""
    by_delta = sorted(range(len(hours)), key=lambda i: hours[i]["delta"])
    keep = sorted(set(by_delta[:n]) | set(by_delta[-n:]))
    return [hours[i] for i in keep]


def summary(p: Progress, base: str = "CNY") -> str:
    c = p.campaign
    m = p.primary
    target = p.target(m) or 0.0
    actual = p.value(m) or 0.0
    ratio = actual / target if target else 0.0
    verdict = "beat" if ratio >= 1 else ("nearly made" if ratio >= 0.9 else "missed")
    unit = f" {base}" if m == "gmv" else ""
    won = [x for x in p.hours if x["won"]]
    lost = [x for x in p.hours if not x["won"]]
    parts = [
        f"{c.name} {verdict} its {m} target: {actual:,.0f}{unit} of {target:,.0f} ({ratio:.0%})."
    ]
    if won:
        best = max(won, key=lambda x: x["delta"])
        parts.append(f"Best hour {best['hour']} (+{best['delta']:,.0f} over plan).")
    if lost:
        worst = min(lost, key=lambda x: x["delta"])
        parts.append(f"Worst hour {worst['hour']} ({worst['delta']:,.0f} under plan).")
    parts.append(f"{len(won)} of {len(p.hours)} hours on or over plan.")
    rr, ceiling = p.value("refund_rate"), p.target("refund_rate")
    if rr is not None and ceiling is not None:
        ok = "within" if rr <= ceiling else "over"
        parts.append(f"Refund rate {rr:.1%}, {ok} the {ceiling:.0%} ceiling.")
    if p.state == "paused":
        parts.append("The campaign ended the day paused by command.")
    return " ".join(parts)


def _group(text: str) -> str:
    """Thousands separators on an exact decimal string (never through a float)."""
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{dot}{frac}"


def _currency_table(rows: list[dict[str, Any]], base: str) -> str:
    """Each currency in its own units (exact) beside the base equivalent and its share."""
    body = "".join(
        f"<tr><td>{E(r['currency'])}</td><td>{_group(r['gmv'])}</td>"
        f"<td>{_group(r['gmv_base'])}</td><td>{_pct(r['share'])}</td>"
        f"<td>{_group(r['payments'])}</td><td>{_group(r['refunds'])}</td></tr>"
        for r in rows
    )
    return (
        f'<table class="currencies"><tr><th>currency</th><th>GMV (own units)</th>'
        f"<th>GMV ({E(base)})</th><th>share</th><th>paid (own units)</th>"
        f"<th>refunds (own units)</th></tr>{body}</table>"
    )


def _money_views(p: Progress, base: str) -> str:
    """A campaign's GMV by currency (and, when it crosses borders, by region)."""
    out = []
    cur = p.currencies_json()
    if cur is not None and cur["rows"]:
        out.append(f"<h3>GMV by currency ({E(cur['note'])})</h3>")
        out.append(_currency_table(cur["rows"], base))
    regions = p.regions_json()
    if p.campaign.overseas and regions:
        cells = " · ".join(f"{E(r['region'])} {_group(r['gmv'])}" for r in regions[:12])
        out.append(f'<p class="muted">GMV by region ({E(base)}): {cells}</p>')
    return "".join(out)


def _card(p: Progress, base: str = "CNY") -> str:
    c = p.campaign
    rows = []
    for m, row in p.to_json()["targets"].items():
        if m in ("conversion", "refund_rate"):
            rows.append(
                f"<tr><td>{m}</td><td>{_pct(row['target'])}</td><td>{_pct(row['actual'])}</td>"
                f"<td>{'met' if row['met'] else 'missed'}</td></tr>"
            )
        else:
            rows.append(
                f"<tr><td>{m}</td><td>{_num(row['target'])}</td><td>{_num(row['actual'])}</td>"
                f"<td>{row['progress']:.0%}</td></tr>"
            )
    hours = "".join(
        f"<tr class='{'won' if x['won'] else 'lost'}'><td>{x['hour']}</td>"
        f"<td>{_num(x['actual'])}</td><td>{_num(x['planned'])}</td>"
        f"<td>{'won' if x['won'] else 'lost'}</td></tr>"
        for x in _decisive(p.hours)
    )
    scope = "; ".join(
        f"{k} {v if isinstance(v, str) else ', '.join(v)}"
        for k, v in c.scope.model_dump(exclude_defaults=True).items()
    )
    badges = "".join(
        [
            '<span class="badge paused">paused</span>' if p.state == "paused" else "",
            '<span class="badge overseas">cross-border</span>' if c.overseas else "",
        ]
    )
    return f"""
<section class="campaign" id="{E(c.id)}">
  <h2>{E(c.name)} <small>{E(c.id)}</small> {badges}</h2>
  <p class="meta">Commander <b>{E(c.commander)}</b> · {E(c.window.start.isoformat())} →
   {E(c.window.end.isoformat())} ({E(c.window.timezone)}) · scope {E(scope)}</p>
  <p class="summary">{E(summary(p, base))}</p>
  <div class="grid">
    <div><h3>{E(p.primary)}: actual (blue) vs plan (dashed)</h3>{_svg_cumulative(p)}
      <h3>Hours won and lost</h3>{_svg_hours(p)}</div>
    <div><table><tr><th>target</th><th>goal</th><th>actual</th><th></th></tr>{"".join(rows)}
      </table>
      <table><tr><th>hour</th><th>actual</th><th>planned</th><th></th></tr>{hours}</table>
      <p class="muted">Refunds {p.actual.get("refunds", 0):,} ·
       refund amount {format_money(p.actual.get("refund_amount", 0), p.digits)} {E(base)}</p>
    </div>
  </div>
  {_money_views(p, base)}
</section>"""


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#122;}
h1{margin:0 0 4px} h2{margin:0 0 4px;font-size:19px} h2 small{color:#678;font-weight:400}
h3{font-size:13px;margin:8px 0 2px;color:#345} .muted,.meta{color:#567}
.campaign{border:1px solid #cdd;border-radius:8px;padding:14px 18px;margin:16px 0;
 break-inside:avoid} .summary{font-size:15px;background:#f3f7fb;padding:8px 10px;border-radius:6px}
.grid{display:grid;grid-template-columns:3fr 2fr;gap:16px}
table{border-collapse:collapse;width:100%;margin-bottom:8px} td,th{padding:2px 6px;
 border-bottom:1px solid #e4e8ec;text-align:right} td:first-child,th:first-child{text-align:left}
tr.won td:last-child{color:#17803d} tr.lost td:last-child{color:#c0392b}
.chart{width:100%;height:auto;background:#fbfcfd;border:1px solid #e4e8ec;border-radius:4px}
.axis{stroke:#99a;stroke-width:1} .target{stroke:#c0392b;stroke-dasharray:2 3}
.plan{fill:none;stroke:#888;stroke-width:2;stroke-dasharray:6 4}
.actual{fill:none;stroke:#1f6fd1;stroke-width:2.5} .lbl{font-size:10px;fill:#567}
rect.won{fill:#2e9e57} rect.lost{fill:#d0493b}
.badge{font-size:11px;padding:2px 6px;border-radius:4px;margin-left:6px;vertical-align:middle}
.badge.paused{background:#f5b041;color:#000} .badge.overseas{background:#d6eaf8;color:#1a4f7a}
.overview td:nth-child(n+2){text-align:right}
.incident{border-left:3px solid #c0392b;padding:2px 0 2px 12px;margin:10px 0;break-inside:avoid}
.incident.resolved{border-left-color:#2e9e57} .incident h3{font-size:15px;color:#122;margin:0}
.overview.timeline td,.overview.timeline th{text-align:left}
.timeline td:first-child{white-space:nowrap}
pre.rates{background:#f3f7fb;padding:8px 10px;border-radius:6px;white-space:pre-wrap;
 font-size:12px}
"""


def render(
    store: Store,
    campaigns: CampaignFile,
    alerts: list[dict[str, Any]] | None = None,
    now: int | None = None,
) -> str:
    rates = stored_rates(store)
    base, digits = rates.base, rates.base_digits
    end = now if now is not None else latest(store)
    progress = evaluate(
        store,
        campaigns.campaigns,
        Clock(campaigns.compress),
        now=end,
        digits=digits,
        states=paused_states(store.engine),
        minor_digits=rates.minor_digits,
    )
    market = evaluate_market(store, digits)
    overview = "".join(
        f"<tr><td><a href='#{E(p.campaign.id)}'>{E(p.campaign.name)}</a></td>"
        f"<td>{E(p.campaign.commander)}</td><td>{E(p.primary)}</td>"
        f"<td>{(p.value(p.primary) or 0) / (p.target(p.primary) or 1):.0%}</td>"
        f"<td>{sum(x['won'] for x in p.hours)}/{len(p.hours)}</td><td>{E(p.state)}</td></tr>"
        for p in progress
    )
    incidents = _incidents(store_incidents(store.engine))
    if alerts:
        incidents += f"<h3>Alerts (from --alerts)</h3>{_alerts(alerts)}"
    stamp = datetime.fromtimestamp(end / 1000, UTC).isoformat() if end else "–"
    currencies = market_currencies(store, rates)
    by_currency = f"<h3>By currency</h3>{_currency_table(currencies, base)}" if currencies else ""
    made = sum(1 for p in progress if (p.value(p.primary) or 0) >= (p.target(p.primary) or 0))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>warroom review</title>
<style>{CSS}</style></head><body>
<h1>Double 11 review</h1>
<p class="meta">Data up to {E(stamp)} (event time) · base currency {E(base)} ·
 {made} of {len(progress)} campaigns made their main target.</p>
<h2>Market</h2>
<table class="overview"><tr><th>GMV ({E(base)})</th><th>orders</th><th>refunds</th>
 <th>refund amount ({E(base)})</th><th>catalog changes (SKU)</th></tr>
 <tr><td>{_group(market["gmv"])}</td><td>{market["orders"]:,}</td><td>{market["refunds"]:,}</td>
 <td>{_group(market["refund_amount"])}</td><td>{market["sku_changes"]:,}</td></tr></table>
{by_currency}
<h2>Campaigns</h2>
<table class="overview"><tr><th>campaign</th><th>commander</th><th>judged on</th>
 <th>of target</th><th>hours won</th><th>state</th></tr>{overview}</table>
<h2>Incidents</h2>{incidents}
{"".join(_card(p, base) for p in progress)}
{_rates_section(rates)}
</body></html>
"""


def _exact_rate(num: int, scale: int) -> str:
    return format(Decimal(num).scaleb(-scale), "f")


def _rates_section(rates: RatesTable) -> str:
    """The rates table recorded with the run, exactly as read, and the one rule that
    turned each record into the base currency: any base figure can be re-derived."""
    rows = "".join(
        f"<tr><td>{E(code)}</td><td>{_exact_rate(r.num, r.scale)}</td><td>{r.digits}</td></tr>"
        for code, r in sorted(rates.rates.items())
    )
    return f"""<section class="rates" id="rates">
<h2>Rates used</h2>
<p class="meta">Recorded with the run (the store's <code>rates</code>). Each record was
 converted once: base minor units = round half to even of (amount in minor units × rate ×
 10<sup>{rates.base_digits}</sup> / 10<sup>digits</sup>); every {E(rates.base)} figure above
 is a sum of those.</p>
<table class="overview"><tr><th>currency</th><th>{E(rates.base)} per unit</th>
 <th>minor digits</th></tr>{rows}</table>
<h3>The table as recorded</h3><pre class="rates">{E(rates.source_text)}</pre>
</section>"""


def market_currencies(store: Store, rates: RatesTable) -> list[dict[str, Any]]:
    """The day's money per currency from the closed minutes (as the market figures are)."""
    cells = store.cells(MINUTE)
    if cells.height == 0:
        return []
    sums = (
        cells.filter((pl.col("gset") == GSET_ID[("currency",)]) & (pl.col("k1") != "unknown"))
        .group_by("k1")
        .agg(pl.col(c).sum() for c in CURRENCY_SUMS)
        .sort(["gmv", "k1"], descending=[True, False])
    )
    total = int(sums["gmv"].sum()) if sums.height else 0
    out = []
    for r in sums.iter_rows(named=True):
        d = rates.minor_digits.get(r["k1"], 2)
        out.append(
            {
                "currency": r["k1"],
                "gmv": format_money(r["gmv_local"], d),
                "gmv_base": format_money(r["gmv"], rates.base_digits),
                "share": r["gmv"] / total if total else None,
                "payments": format_money(r["pay_amount_local"], d),
                "refunds": format_money(r["refund_amount_local"], d),
            }
        )
    return out


def evaluate_market(store: Store, digits: int = 2) -> dict[str, Any]:
    from warroom.series.query import SeriesQuery, run_query

    out: dict[str, Any] = {}
    for metric in ("gmv", "orders", "refunds", "refund_amount", "sku_changes"):
        frame = run_query(store, SeriesQuery(metric=metric, every="1m"), digits)
        if metric in ("gmv", "refund_amount"):
            from decimal import Decimal

            out[metric] = str(sum((Decimal(v) for v in frame["value"]), Decimal("0.00")))
        else:
            out[metric] = sum(int(v) for v in frame["value"])
    return out


def store_incidents(engine: sa.Engine) -> list[dict[str, Any]]:
    """Incidents from the command layer's tables, each with its roles and timeline."""
    if not sa.inspect(engine).has_table("cmd_incidents"):
        return []
    from warroom.command.tables import incident_roles_t, incidents_t, timeline_t

    with engine.connect() as c:
        rows = c.execute(
            sa.select(incidents_t).order_by(incidents_t.c.created_ms, incidents_t.c.id)
        )
        found = {r.id: {**r._mapping, "roles": {}, "timeline": []} for r in rows}
        for r in c.execute(sa.select(incident_roles_t)):
            if r.incident_id in found:
                found[r.incident_id]["roles"][r.role] = r.person
        for r in c.execute(sa.select(timeline_t).order_by(timeline_t.c.seq)):
            if r.incident_id in found:
                found[r.incident_id]["timeline"].append(dict(r._mapping))
    return list(found.values())


def _hms(ms: int | None) -> str:
    return "open" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


def _incidents(incidents: list[dict[str, Any]], keep: int = 40) -> str:
    """One block per incident: who, when, how long, and its timeline (first `keep` entries)."""
    if not incidents:
        return '<p class="muted">No incidents were declared.</p>'
    out = []
    for inc in incidents:
        roles = ", ".join(f"{E(k)} {E(v)}" for k, v in sorted(inc["roles"].items()))
        took = ""
        if inc["resolved_ms"] is not None:
            s = (inc["resolved_ms"] - inc["created_ms"]) // 1000
            took = f" ({s // 60}m {s % 60:02d}s)"
        rows = "".join(
            f"<tr><td>{_hms(e['ts_ms'])}</td><td>{E(e['kind'])}</td><td>{E(e['actor'])}</td>"
            f"<td>{E(e['text'])}</td></tr>"
            for e in inc["timeline"][:keep]
        )
        more = len(inc["timeline"]) - keep
        if more > 0:
            rows += f'<tr><td colspan="4" class="muted">… {more} more entries</td></tr>'
        out.append(
            f'<div class="incident {E(inc["status"])}" id="incident-{inc["id"]}">'
            f"<h3>#{inc['id']} {E(inc['title'])} <small>{E(inc['severity'])} · "
            f"{E(inc['status'])}</small></h3>"
            f'<p class="meta">declared {_hms(inc["created_ms"])} UTC from {E(inc["source"])} · '
            f"resolved {_hms(inc['resolved_ms'])}{took} · {roles}</p>"
            '<table class="overview timeline"><tr><th>time (UTC)</th><th>kind</th>'
            f"<th>who</th><th>what</th></tr>{rows}</table></div>"
        )
    return "".join(out)


def _alerts(alerts: list[dict[str, Any]]) -> str:
    """Alert records (OUTPUTS.md) paired firing → resolved: one timeline row per alert."""
    spans: dict[str, dict[str, Any]] = {}
    for a in alerts:
        s = spans.setdefault(a["id"], {"alert": a, "from": a["ts"], "to": None})
        if a.get("state") == "resolved":
            s["to"] = a["ts"]
    rows = []
    for s in sorted(spans.values(), key=lambda s: s["from"]):
        a = s["alert"]
        scope = ", ".join(f"{k}={v}" for k, v in a.get("scope", {}).items()) or "market"
        rows.append(
            f"<tr><td>{_hms(s['from'])}</td><td>{_hms(s['to'])}</td>"
            f"<td>{E(a.get('source', ''))}</td>"
            f"<td>{E(scope)}</td><td>{E(a.get('summary') or a.get('metric', ''))}</td></tr>"
        )
    return (
        '<table class="overview"><tr><th>from (UTC)</th><th>to</th><th>source</th>'
        f"<th>scope</th><th>what</th></tr>{''.join(rows[:60])}</table>"
    )


def read_alerts(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise WarroomError(f"--alerts: {path}: {exc}") from exc


def to_pdf(html_path: Path, pdf_path: Path) -> None:
    if not CHROMIUM.exists():
        raise WarroomError(f"--pdf: needs {CHROMIUM} (`make browser` installs it)")
    cmd = [
        str(CHROMIUM),
        *HEADLESS_ARGS,
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf_path.resolve()}",
        html_path.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not pdf_path.exists():
        raise WarroomError(f"--pdf: chromium failed: {done.stderr.decode()[-500:]}")
