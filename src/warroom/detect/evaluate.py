"""`warroom eval`: replay a simulated run through the watch and score it against the
scenario's labels (ground truth never travels in the stream)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from warroom.alerts.model import Alert
from warroom.detect.baseline import Plan
from warroom.detect.pipeline import Watch

# Incidents that move a KPI the watch observes; the others belong to the catalog,
# refund and ingest guards (a late_data or price_error alert still counts as true).
KPI_KINDS = ("payment_outage", "regional_outage", "traffic_drop", "traffic_spike")
# Incidents that move a ratio the watch judges but that it is not built to find: a
# refund ring (~30 buyers, scope the whole market) moves the refund rate of every
# slice a little and the market's, which the watch does not judge (it follows the
# day's orders by minutes). Counted apart, so that a detection shows.
RATIO_KINDS = {"refund_abuse": "refund_rate"}
GRACE_MS = 10_000  # an alert this long after an incident's end is still about it
LEAD_MS = 5_000  # visits lead the orders they become by up to 3 s in the simulator


@dataclass
class Finding:
    kind: str
    scope: dict[str, str]
    detected: bool
    ttd_ms: int | None
    exact: bool
    alert_scope: dict[str, str] | None


@dataclass
class Report:
    findings: list[Finding]
    false_alerts: list[Alert]
    surge_alerts: list[Alert]
    hours: float
    alerts: list[Alert] = field(default_factory=list)
    at_close: list[Alert] = field(default_factory=list)
    outside: list[Alert] = field(default_factory=list)  # false, and in no incident's time

    def summary(self) -> dict:
        kpi = [f for f in self.findings if f.kind in KPI_KINDS]
        hit = [f for f in kpi if f.detected]
        ttd = [f.ttd_ms / 1000 for f in hit if f.ttd_ms is not None]
        ratio = [f for f in self.findings if f.kind in RATIO_KINDS]
        fired: dict[str, int] = {}
        for a in self.alerts:
            if a.state == "firing":
                fired[a.metric] = fired.get(a.metric, 0) + 1
        return {
            "kpi_incidents": len(kpi),
            "recall": round(len(hit) / len(kpi), 3) if kpi else None,
            "scope_exact": round(sum(f.exact for f in hit) / len(hit), 3) if hit else None,
            "ttd_median_s": round(float(np.median(ttd)), 1) if ttd else None,
            "ttd_p90_s": round(float(np.quantile(ttd, 0.9)), 1) if ttd else None,
            "false_alerts": len(self.false_alerts),
            "false_alerts_per_hour": round(len(self.false_alerts) / self.hours, 2),
            "false_alerts_outside_incidents": len(self.outside),
            "false_alerts_during_surge": len(self.surge_alerts),
            "market_alerts_at_close": len(self.at_close),
            "event_hours": round(self.hours, 4),
            "ratio_incidents": {f.kind: f.detected for f in ratio},
            "alerts_by_metric": dict(sorted(fired.items())),
        }


def _expand(s: dict[str, str]) -> set[tuple[str, str]]:
    out = set(s.items())
    if "region" in s:
        out.add(("country", s["region"][:2]))  # a region lies in its country
    return out


def _matches(alert_scope: dict[str, str], label_scope: dict[str, str]) -> bool:
    """Same slice, or one inside the other. A label without scope (the whole market)
    matches only a whole-market alert."""
    if not label_scope:
        return not alert_scope
    a, b = _expand(alert_scope), _expand(label_scope)
    return a <= b or b <= a


def _among_entities(alert_scope: dict[str, str], label: dict) -> bool:
    """The alert is on a merchant the incident names (a scramble's merchants, whose
    buyers send the wrong sizes back): a consequence, not a false alert."""
    merchant = alert_scope.get("merchant")
    return merchant is not None and merchant in label.get("entities", {}).get("merchants", [])


def _overlaps(alert_scope: dict[str, str], label_scope: dict[str, str]) -> bool:
    """The slices share rows (jewelry orders rise when a jewelry merchant's price is
    wrong): such an alert is a consequence of the incident, not a false one."""
    if not label_scope:
        return not alert_scope
    a, b = dict(_expand(alert_scope)), dict(_expand(label_scope))
    shared = a.keys() & b.keys()
    return bool(shared) and all(a[k] == b[k] for k in shared)


def score(
    alerts: list[Alert], labels: list[dict], start: int, end: int, plan: Plan, close: int
) -> Report:
    """`close`: the last second with orders, when the (compressed) sale day ends. Every
    alert no labelled incident explains is false; whole-market alerts at the close are
    also listed apart (`at_close`), as they tell the input's end from a collapse."""
    firing = sorted((a for a in alerts if a.state == "firing"), key=lambda a: a.ts)
    findings, explained = [], set()
    for lab in labels:
        lo, hi = lab["start"] - LEAD_MS, lab["end"] + GRACE_MS
        during = [a for a in firing if lo <= a.ts <= hi]
        metric = RATIO_KINDS.get(lab["kind"])
        hits = [
            a
            for a in during
            if _matches(a.scope, lab["scope"]) and (metric is None or a.metric == metric)
        ]
        explained.update(
            a.id
            for a in during
            if _overlaps(a.scope, lab["scope"]) or _among_entities(a.scope, lab)
        )
        first = hits[0] if hits else None
        exact = any(a.scope == lab["scope"] for a in hits[:2]) if hits else False
        findings.append(
            Finding(
                lab["kind"],
                lab["scope"],
                bool(hits),
                max(0, first.ts - lab["start"]) if first else None,
                exact,
                first.scope if first else None,
            )
        )
    false = [a for a in firing if a.id not in explained]
    at_close = [a for a in false if not a.scope and a.ts >= close - 5_000]
    surge = [a for a in false if plan.planned(a.ts - 1000)]
    report = Report(findings, false, surge, max(end - start, 1) / 3_600_000, alerts)
    report.at_close = at_close
    report.outside = [
        a
        for a in false
        if not any(lab["start"] - LEAD_MS <= a.ts <= lab["end"] + GRACE_MS for lab in labels)
    ]
    return report


def evaluate(scenario_dir: Path, work: Path | None = None) -> Report:
    """Replay `scenario_dir` (events, rates, catalog, labels) and score the alerts."""
    from warroom.runner import Runner, RunOptions

    labels = json.loads((scenario_dir / "labels.json").read_text())
    alerts: list[Alert] = []
    watch = Watch(alerts.append)
    tmp = Path(tempfile.mkdtemp(prefix="warroom-eval-")) if work is None else work
    try:
        catalog = scenario_dir / "catalog.ndjson"
        rates = scenario_dir / "rates.json"
        runner = Runner(
            RunOptions(
                events=str(scenario_dir / "events.ndjson"),
                data_dir=tmp,
                rates=rates if rates.exists() else None,
                catalog=catalog if catalog.exists() else None,
            ),
            on_step=lambda step: _feed(runner, watch, step),
        )
        runner.run()
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)
    assert watch.config.plan is not None and watch.last_win is not None
    start = watch.first_win if watch.first_win is not None else 0
    close = watch.last_order_win if watch.last_order_win is not None else watch.last_win
    return score(alerts, labels, start, watch.last_win + 1000, watch.config.plan, close)


def _feed(runner, watch: Watch, step) -> None:  # type: ignore[no-untyped-def]
    cells = step.cells.get(1000)
    if cells is not None and cells.height:
        watch.process(runner.engine.label(cells))


def print_report(report: Report, console) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table("incident", "scope", "detected", "time to detect", "scope exact", "alerted on")
    for f in report.findings:
        table.add_row(
            f.kind,
            json.dumps(f.scope),
            "yes" if f.detected else "no",
            f"{f.ttd_ms / 1000:.1f} s" if f.ttd_ms is not None else "-",
            "yes" if f.exact else "no",
            json.dumps(f.alert_scope) if f.alert_scope is not None else "-",
        )
    console.print(table)
    for a in report.false_alerts:
        console.print(f"false alert at {a.ts}: {a.summary}")
    console.print_json(json.dumps(report.summary()))
