"""The Double-11 simulator: a compressed day, incidents with ground truth, live pacing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from warroom.sim import world
from warroom.sim.day import SCENARIOS, base_day, inject
from warroom.sim.events import emit
from warroom.sim.output import Sink, attrs, money

__all__ = ["SCENARIOS", "SimConfig", "live_batches", "simulate"]


@dataclass(frozen=True)
class SimConfig:
    minutes: float = 10.0  # event-time minutes that stand for the whole day
    rate: float = 200.0  # order lines per second on the plateau
    seed: int = 7
    scenarios: tuple[str, ...] = SCENARIOS
    base_currency: str = "CNY"


def simulate(
    cfg: SimConfig, out_dir: Path, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Writes events.ndjson, catalog.ndjson, rates.json, labels.json and hard_cases.json."""
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    out_dir.mkdir(parents=True, exist_ok=True)
    day = base_day(rng, cfg.minutes, cfg.rate)
    _write_catalog(day.cat, out_dir / "catalog.ndjson")  # the freeze, before any change
    inject(day, cfg.scenarios)
    sink = Sink()
    emit(day, sink)
    _cut(sink, day.end)
    keys = _delivery_keys(day, sink)
    order = np.argsort(keys, kind="stable")
    total = len(order)
    with (out_dir / "events.ndjson").open("w", encoding="utf-8") as fh:
        for start in range(0, total, 200_000):
            fh.write("\n".join(sink.lines[i] for i in order[start : start + 200_000]) + "\n")
            if progress:
                progress(min(start + 200_000, total), total)
    rates = {
        "base": cfg.base_currency,
        "rates": {k: float(v) for k, v in world.RATES.items()},
        "minor_digits": world.DIGITS,
    }
    (out_dir / "rates.json").write_text(_rates_text(rates))
    (out_dir / "labels.json").write_text(json.dumps(day.labels, indent=1))
    (out_dir / "hard_cases.json").write_text(json.dumps(day.hard, indent=1))
    counts: dict[str, int] = {}
    for line in sink.lines:
        kind = line[9 : line.index('"', 9)]
        counts[kind] = counts.get(kind, 0) + 1
    return {
        "events": total,
        "by_type": counts,
        "start": day.start,
        "end": day.end,
        "incidents": [label["kind"] for label in day.labels],
    }


def _cut(sink: Sink, end: int) -> None:
    """Drop every record at or after `end`: all streams stop at the same instant."""
    keep = [i for i, k in enumerate(sink.keys) if k < end]
    sink.keys = [sink.keys[i] for i in keep]
    sink.lines = [sink.lines[i] for i in keep]


def _rates_text(rates: dict) -> str:
    # rates as exact decimals: write the strings as JSON numbers
    body = ", ".join(f'"{k}": {v}' for k, v in world.RATES.items())
    return (
        f'{{"base": "{rates["base"]}", "rates": {{{body}}}, '
        f'"minor_digits": {json.dumps(rates["minor_digits"])}}}\n'
    )


def _delivery_keys(day, sink: Sink) -> np.ndarray:
    """Delivery order: event time, except late and duplicated deliveries."""
    rng = day.rng
    keys = np.asarray(sink.keys, dtype=np.int64)
    for label in day.labels:
        t0, t1 = label["start"], label["end"]
        in_span = np.flatnonzero((keys >= t0) & (keys < t1))
        if label["kind"] == "late_data":
            region = f'"region":"{label["scope"]["region"]}"'
            late = [i for i in in_span.tolist() if region in sink.lines[i]]
            far = rng.random(len(late)) < 0.8  # most past a 30 s lateness, some just late
            shift = np.where(
                far, rng.integers(35_000, 60_000, len(late)), rng.integers(2_000, 4_000, len(late))
            )
            keys[late] += shift
        elif label["kind"] == "duplicate_delivery":
            again = in_span[rng.random(len(in_span)) < 0.1]
            sink.lines.extend(sink.lines[i] for i in again.tolist())
            keys = np.concatenate([keys, keys[again] + rng.integers(500, 3_000, len(again))])
    return keys


def _write_catalog(cat: world.Catalog, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for sku, item in enumerate(cat.sku_item.tolist()):
            merchant = int(cat.item_merchant[item])
            cur = cat.merchant_cur[merchant]
            fh.write(
                f'{{"merchant_id":"m-{merchant}","item_id":"i-{item}","sku_id":"s-{sku}",'
                f'"category":"{cat.item_category[item]}","attrs":{attrs(cat.sku_attrs[sku])},'
                f'"price":{money(int(cat.sku_price[sku]), cur)},"currency":"{cur}"}}\n'
            )


def live_batches(events_path: Path, speed: float, batch_ms: int = 200) -> Iterator[list[bytes]]:
    """The lines of an events file, released as their event time comes, `speed` times
    faster than real time; each batch holds the lines of the next `batch_ms` of wall time."""
    started = time.monotonic()
    first_ts: int | None = None
    batch: list[bytes] = []
    due = 0.0
    with events_path.open("rb") as fh:
        for raw in fh:
            line = raw.rstrip(b"\n")
            ts = _ts_of(line)
            if first_ts is None and ts is not None:
                first_ts = ts
            at = 0.0 if ts is None or first_ts is None else (ts - first_ts) / 1000 / speed
            if at > due and batch:
                wait = due - (time.monotonic() - started)
                if wait > 0:
                    time.sleep(wait)
                yield batch
                batch = []
                due = max(due + batch_ms / 1000, at)
            batch.append(line)
    if batch:
        yield batch


def _ts_of(line: bytes) -> int | None:
    """The integer ts of a line, cheaply (a string ts only shifts pacing by a record)."""
    at = line.find(b'"ts":')
    if at < 0:
        return None
    end = line.find(b",", at)
    try:
        return int(line[at + 5 : end])
    except ValueError:
        return None
