"""The post-incident review: Markdown and HTML, the timeline with the KPI charts around it.

KPI series are passed in (`{"gmv": [(ts_ms, value), ...]}`, e.g. from `series.query`)
so the review does not reach into the store; the HTML draws each as an inline SVG line
with the incident's start and resolution marked: one file, no scripts, prints as is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Series = Sequence[tuple[int, float]]


def _utc(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _duration(incident: dict[str, Any]) -> str:
    if incident.get("resolved_ms") is None:
        return "still open"
    s = (incident["resolved_ms"] - incident["created_ms"]) // 1000
    return f"{s // 3600}h {s % 3600 // 60}m {s % 60}s"


def review_markdown(
    incident: dict[str, Any], timeline: list[dict[str, Any]], kpis: dict[str, Series] | None = None
) -> str:
    roles = ", ".join(f"{r}: {p}" for r, p in sorted(incident.get("roles", {}).items()))
    out = [
        f"# Incident {incident['id']}: {incident['title']}",
        "",
        f"- Severity: {incident['severity']}; status: {incident['status']}",
        f"- Declared {_utc(incident['created_ms'])} from {incident['source']}; "
        f"resolved {_utc(incident.get('resolved_ms'))} ({_duration(incident)})",
        f"- Roles: {roles}",
        "",
        "## Timeline",
        "",
        "| time (UTC) | kind | who | what |",
        "| --- | --- | --- | --- |",
    ]
    for e in timeline:
        text = e["text"].replace("|", "\\|").replace("\n", " ")
        out.append(f"| {_utc(e['ts_ms'])} | {e['kind']} | {e['actor']} | {text} |")
    if kpis:
        out += ["", "## KPIs around the incident", ""]
        for name, series in kpis.items():
            values = [v for _, v in series]
            if values:
                out.append(
                    f"- {name}: {len(values)} points, min {min(values):g}, max {max(values):g}, "
                    f"last {values[-1]:g}"
                )
    return "\n".join(out) + "\n"


def svg_chart(
    name: str, series: Series, marks: Sequence[int] = (), width: int = 640, height: int = 160
) -> str:
    """A line chart as inline SVG; vertical lines at `marks` (epoch ms)."""
    if not series:
        return f'<svg width="{width}" height="{height}" role="img"><title>{name}</title></svg>'
    xs, ys = [t for t, _ in series], [v for _, v in series]
    x0, x1 = min([*xs, *marks]), max([*xs, *marks])
    y0, y1 = min(ys), max(ys)
    pad = 20

    def px(t: float) -> float:
        return pad + (t - x0) / ((x1 - x0) or 1) * (width - 2 * pad)

    def py(v: float) -> float:
        return height - pad - (v - y0) / ((y1 - y0) or 1) * (height - 2 * pad)

    points = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in series)
    lines = "".join(
        f'<line x1="{px(m):.1f}" x2="{px(m):.1f}" y1="{pad}" y2="{height - pad}" '
        f'stroke="#d33" stroke-dasharray="4 3"/>'
        for m in marks
    )
    label = html.escape(name)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<text x="{pad}" y="14" font-size="12">{label} ({y0:g} – {y1:g})</text>'
        f'<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{points}"/>{lines}</svg>'
    )


def review_html(
    incident: dict[str, Any], timeline: list[dict[str, Any]], kpis: dict[str, Series] | None = None
) -> str:
    esc = html.escape
    marks = [m for m in (incident["created_ms"], incident.get("resolved_ms")) if m is not None]
    charts = "".join(f"<figure>{svg_chart(n, s, marks)}</figure>" for n, s in (kpis or {}).items())
    rows = "".join(
        f"<tr><td>{_utc(e['ts_ms'])}</td><td>{esc(e['kind'])}</td><td>{esc(e['actor'])}</td>"
        f"<td>{esc(e['text'])}</td></tr>"
        for e in timeline
    )
    roles = ", ".join(f"{esc(r)}: {esc(p)}" for r, p in sorted(incident.get("roles", {}).items()))
    title = esc(f"Incident {incident['id']}: {incident['title']}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font:14px system-ui;margin:2em}td,th{border-bottom:1px solid #ddd;"
        "padding:2px 8px;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>Severity {esc(incident['severity'])}; status "
        f"{esc(incident['status'])}; declared {_utc(incident['created_ms'])} from "
        f"{esc(incident['source'])}; resolved {_utc(incident.get('resolved_ms'))} "
        f"({_duration(incident)}). Roles: {roles}.</p>"
        f"<h2>KPIs around the incident</h2>{charts or '<p>No KPI series given.</p>'}"
        "<h2>Timeline</h2><table><thead><tr><th>time (UTC)</th><th>kind</th><th>who</th>"
        f"<th>what</th></tr></thead><tbody>{rows}</tbody></table></body></html>\n"
    )
