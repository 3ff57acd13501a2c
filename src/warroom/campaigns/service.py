"""The campaign book (definitions kept in the store), paused states, behind-plan alerts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from warroom.alerts.model import Alert
from warroom.campaigns.model import Campaign, CampaignFile, Clock, Compression, load_file
from warroom.campaigns.progress import Progress, evaluate
from warroom.contract.rates import RatesTable
from warroom.store.db import Store

META_KEY = "campaigns"
log = logging.getLogger("warroom.campaigns")


def paused_states(engine: sa.Engine) -> dict[str, str]:
    """The command layer's campaign table (pause/resume actions), if it exists yet."""
    if not sa.inspect(engine).has_table("cmd_campaigns"):
        return {}
    from warroom.command.actions.campaigns import campaign_states

    return campaign_states(engine)


def stored_rates(store: Store) -> RatesTable:
    """The rates table recorded with the run (the default table if none was)."""
    text = store.get_meta("rates")
    return RatesTable.parse(text, "stored rates") if text else RatesTable.load(None)


class CampaignBook:
    """Definitions from a file or the API, persisted in the store's meta table."""

    def __init__(
        self, store: Store, digits: int = 2, minor_digits: Mapping[str, int] | None = None
    ) -> None:
        self.store = store
        self.digits = digits
        self.minor_digits = dict(minor_digits or {})  # currency -> its minor digits
        self._lock = threading.Lock()
        self._cache: tuple[float, list[Progress]] | None = None
        self.cards: list[dict[str, Any]] = []  # the wall's, refreshed off the event loop
        self.cards_at = float("-inf")
        self.refreshing = False
        self.behind = BehindPlanWatch()  # the server's: its alerts go to the alert book
        raw = store.get_meta(META_KEY)
        self.file = (
            CampaignFile.model_validate(json.loads(raw)) if raw else CampaignFile(campaigns=[])
        )

    @property
    def clock(self) -> Clock:
        return Clock(self.file.compress)

    def campaigns(self) -> list[Campaign]:
        return list(self.file.campaigns)

    def get(self, campaign_id: str) -> Campaign | None:
        return next((c for c in self.file.campaigns if c.id == campaign_id), None)

    def replace_all(self, f: CampaignFile) -> None:
        with self._lock:
            self.file = f
            self._save()

    def load(self, path: Path, day_minutes: float | None = None) -> CampaignFile:
        f = load_file(path)
        if day_minutes is not None and f.compress is not None:
            f = f.model_copy(
                update={"compress": Compression(origin=f.compress.origin, day_minutes=day_minutes)}
            )
        self.replace_all(f)
        return f

    def upsert(self, c: Campaign) -> bool:
        """Adds or replaces by id; True if it was new."""
        with self._lock:
            items = [x for x in self.file.campaigns if x.id != c.id]
            new = len(items) == len(self.file.campaigns)
            self.file = self.file.model_copy(update={"campaigns": [*items, c]})
            self._save()
        return new

    def _save(self) -> None:
        self._cache = None
        self.store.set_meta({META_KEY: self.file.model_dump_json()})

    def progress(self, now: int | None = None, max_age: float = 0.0) -> list[Progress]:
        """Every campaign's progress; reuses the last answer if younger than max_age s."""
        cached = self._cache
        if cached and max_age and time.monotonic() - cached[0] < max_age:
            return cached[1]
        out = evaluate(
            self.store,
            self.campaigns(),
            self.clock,
            now=now,
            digits=self.digits,
            states=paused_states(self.store.engine),
            minor_digits=self.minor_digits,
        )
        self._cache = (time.monotonic(), out)
        return out


class BehindPlanWatch:
    """Fires an OUTPUTS.md alert when a campaign falls behind its plan by more than its
    tolerance, and resolves it (same id) when the campaign is back within tolerance."""

    def __init__(self) -> None:
        self.firing: dict[str, dict[str, Any]] = {}

    def step(self, progress: list[Progress]) -> list[dict[str, Any]]:
        out = []
        for p in progress:
            aid = f"campaign-{p.campaign.id}-behind-{p.primary}"
            if p.status == "live" and p.state != "paused" and p.behind():
                if aid not in self.firing:
                    self.firing[aid] = alert_record(p, aid, "firing")
                    out.append(self.firing[aid])
            elif aid in self.firing:
                del self.firing[aid]
                out.append(alert_record(p, aid, "resolved"))
        return out


def alert_record(p: Progress, aid: str, state: str) -> dict[str, Any]:
    metric = p.primary
    target = p.target(metric) or 0.0
    expected = target * p.planned_share
    observed = p.value(metric) or 0.0
    gap = p.vs_plan() or 0.0
    tol = p.campaign.tolerance
    unit = " (base currency)" if metric == "gmv" else ""
    return {
        "id": aid,
        "state": state,
        "ts": p.now,
        "source": "kpi",
        "metric": metric,
        "scope": {"campaign": p.campaign.id},
        "direction": "drop",
        "observed": round(observed, 6),
        "expected": round(expected, 6),
        "score": round(min(1.0, max(0.0, -gap) / (2 * tol)), 6),
        "severity": "critical" if -gap > 2 * tol else "warning",
        "summary": (
            f"Campaign {p.campaign.name} ({p.campaign.id}, {p.campaign.commander}) is "
            f"{-gap:.1%} behind plan on {metric}{unit}: {observed:,.2f} against "
            f"{expected:,.2f} planned by now (tolerance {tol:.0%})"
        ),
    }


def wall_cards(ctx: Any, max_age: float = 5.0) -> list[dict[str, Any]]:
    """The wall's campaign cards. Frames are built on the event loop, so the cards are
    computed on a worker thread at most every max_age s and the last ones are served."""
    found = getattr(ctx, "campaigns", None)
    if found is None:
        found = ctx.campaigns = CampaignBook(ctx.store, ctx.wall.digits, ctx.wall.minor_digits)
    book: CampaignBook = found
    if not book.file.campaigns:
        return []
    stale = time.monotonic() - book.cards_at >= max_age
    if stale and not book.refreshing:
        book.refreshing = True
        now = int(ctx.wall.event_time) + 1000 if ctx.wall.event_time else None
        sink = getattr(getattr(ctx, "alerts", None), "ingest", None)
        threading.Thread(target=_refresh, args=(book, now, sink), daemon=True).start()
    return book.cards


def _refresh(
    book: CampaignBook, now: int | None, sink: Callable[[Alert], object] | None = None
) -> None:
    try:
        progress = book.progress(now)
        book.cards = [card(p) for p in progress]
        if sink is not None:  # behind plan: on the ticker, routed and notified like any alert
            for record in book.behind.step(progress):
                sink(Alert(**record))
    except Exception:  # a card must never take the wall's stream down
        log.exception("campaign cards failed")
    finally:
        book.cards_at = time.monotonic()
        book.refreshing = False


def card(p: Progress) -> dict[str, Any]:
    j = p.to_json()
    main = j["targets"].get(p.primary, {})
    keys = ("id", "name", "commander", "status", "paused", "behind", "overseas", "primary")
    return {k: j[k] for k in keys} | {
        "planned_share": j["planned_share"],
        "vs_plan": j["vs_plan"],
        "progress": main.get("progress"),
        "actual": main.get("actual"),
        "target": main.get("target"),
        "regions": j["scope"].get("regions", []),
        **(_abroad(j) if p.campaign.overseas else {}),
    }


def _abroad(j: dict[str, Any], n: int = 4) -> dict[str, Any]:
    """A cross-border card also lists where its GMV came from and in which currencies
    (each in its own units, exact); the full lists are in the API."""
    cur = j["by_currency"]
    return {
        "by_region": (j["by_region"] or [])[:n],
        "by_currency": None if cur is None else {**cur, "rows": cur["rows"][:n]},
    }
