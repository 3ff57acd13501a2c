"""`warroom review`: the after-action report, one self-contained HTML page (inline SVG)."""

from __future__ import annotations

import html
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warroom.browser import CHROMIUM, HEADLESS_ARGS
from warroom.campaigns.model import CampaignFile, Clock
from warroom.campaigns.progress import Progress, evaluate, latest
from warroom.campaigns.service import paused_states
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


def summary(p: Progress) -> str:
    c = p.campaign
    m = p.primary
    target = p.target(m) or 0.0
    actual = p.value(m) or 0.0
    ratio = actual / target if target else 0.0
    verdict = "beat" if ratio >= 1 else ("nearly made" if ratio >= 0.9 else "missed")
    unit = " CNY" if m == "gmv" else ""
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


def _card(p: Progress) -> str:
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
  <p class="summary">{E(summary(p))}</p>
  <div class="grid">
    <div><h3>{E(p.primary)}: actual (blue) vs plan (dashed)</h3>{_svg_cumulative(p)}
      <h3>Hours won and lost</h3>{_svg_hours(p)}</div>
    <div><table><tr><th>target</th><th>goal</th><th>actual</th><th></th></tr>{"".join(rows)}
      </table>
      <table><tr><th>hour</th><th>actual</th><th>planned</th><th></th></tr>{hours}</table>
      <p class="muted">Refunds {p.actual.get("refunds", 0):,} ·
       refund amount {format_money(p.actual.get("refund_amount", 0), p.digits)}</p></div>
  </div>
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
"""


def render(
    store: Store,
    campaigns: CampaignFile,
    alerts: list[dict[str, Any]] | None = None,
    now: int | None = None,
) -> str:
    stored_rates = store.get_meta("rates")
    rates = json.loads(stored_rates) if stored_rates else None
    from warroom.contract.rates import RatesTable

    digits = RatesTable.parse(stored_rates).base_digits if stored_rates else 2
    end = now if now is not None else latest(store)
    progress = evaluate(
        store,
        campaigns.campaigns,
        Clock(campaigns.compress),
        now=end,
        digits=digits,
        states=paused_states(store.engine),
    )
    market = evaluate_market(store)
    overview = "".join(
        f"<tr><td><a href='#{E(p.campaign.id)}'>{E(p.campaign.name)}</a></td>"
        f"<td>{E(p.campaign.commander)}</td><td>{E(p.primary)}</td>"
        f"<td>{(p.value(p.primary) or 0) / (p.target(p.primary) or 1):.0%}</td>"
        f"<td>{sum(x['won'] for x in p.hours)}/{len(p.hours)}</td><td>{E(p.state)}</td></tr>"
        for p in progress
    )
    incidents = _incidents(alerts or [])
    stamp = datetime.fromtimestamp(end / 1000, UTC).isoformat() if end else "–"
    base = rates.get("base", "CNY") if isinstance(rates, dict) else "CNY"
    rate_rows = (
        "".join(
            f"<tr><td>{E(k)}</td><td>{E(str(v))}</td></tr>"
            for k, v in sorted(rates.get("rates", {}).items())
        )
        if isinstance(rates, dict)
        else ""
    )
    made = sum(1 for p in progress if (p.value(p.primary) or 0) >= (p.target(p.primary) or 0))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>warroom review</title>
<style>{CSS}</style></head><body>
<h1>Double 11 review</h1>
<p class="meta">Data up to {E(stamp)} (event time) · base currency {E(base)} ·
 {made} of {len(progress)} campaigns made their main target.</p>
<h2>Market</h2>
<table class="overview"><tr><th>GMV ({E(base)})</th><th>orders</th><th>refunds</th>
 <th>refund amount</th><th>catalog changes (SKU)</th></tr>
 <tr><td>{market["gmv"]}</td><td>{market["orders"]:,}</td><td>{market["refunds"]:,}</td>
 <td>{market["refund_amount"]}</td><td>{market["sku_changes"]:,}</td></tr></table>
<h2>Campaigns</h2>
<table class="overview"><tr><th>campaign</th><th>commander</th><th>judged on</th>
 <th>of target</th><th>hours won</th><th>state</th></tr>{overview}</table>
<h2>Incidents</h2>{incidents}
{"".join(_card(p) for p in progress)}
<h2>Rates used</h2><table class="overview"><tr><th>currency</th><th>{E(base)} per unit</th></tr>
{rate_rows}</table>
</body></html>
"""


def evaluate_market(store: Store) -> dict[str, Any]:
    from warroom.series.query import SeriesQuery, run_query

    out: dict[str, Any] = {}
    for metric in ("gmv", "orders", "refunds", "refund_amount", "sku_changes"):
        frame = run_query(store, SeriesQuery(metric=metric, every="1m"))
        if metric in ("gmv", "refund_amount"):
            from decimal import Decimal

            out[metric] = str(sum((Decimal(v) for v in frame["value"]), Decimal("0.00")))
        else:
            out[metric] = sum(int(v) for v in frame["value"])
    return out


def _incidents(alerts: list[dict[str, Any]]) -> str:
    """Alert records (OUTPUTS.md) paired firing → resolved: one timeline row per alert."""
    if not alerts:
        return '<p class="muted">No alerts were given (pass --alerts FILE).</p>'
    spans: dict[str, dict[str, Any]] = {}
    for a in alerts:
        s = spans.setdefault(a["id"], {"alert": a, "from": a["ts"], "to": None})
        if a.get("state") == "resolved":
            s["to"] = a["ts"]
    rows = []
    for s in sorted(spans.values(), key=lambda s: s["from"]):
        a = s["alert"]
        t0 = datetime.fromtimestamp(s["from"] / 1000, UTC).strftime("%H:%M:%S")
        t1 = datetime.fromtimestamp(s["to"] / 1000, UTC).strftime("%H:%M:%S") if s["to"] else "open"
        scope = ", ".join(f"{k}={v}" for k, v in a.get("scope", {}).items()) or "market"
        rows.append(
            f"<tr><td>{t0}</td><td>{t1}</td><td>{E(a.get('source', ''))}</td>"
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
