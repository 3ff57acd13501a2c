"""`python -m warroom.detect.bench`: CPU cost of watching N series at 1 Hz.

Prints, per component, the CPU time of one tick over all series and what share of
one core that is when ticks come once per event-time second (live mode).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from warroom.detect import DETECTORS
from warroom.detect.pipeline import WATCHED


def _rows(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    inputs = DETECTORS[name].inputs
    if inputs == ("value",):
        return rng.normal(100, 5, n)
    if inputs == ("observed", "expected"):
        mu = rng.uniform(0.5, 50, n)
        return np.column_stack([rng.poisson(mu), mu])
    if inputs == ("successes", "trials", "rate"):
        trials = rng.poisson(30, n)
        return np.column_stack([rng.binomial(trials, 0.05), trials, np.full(n, 0.05)])
    trials = rng.poisson(30, n)
    return np.column_stack([rng.binomial(trials, 0.95), trials])


def _cpu(fn, ticks: int) -> float:  # type: ignore[no-untyped-def]
    fn(0)  # warm
    t0 = time.process_time()
    for t in range(ticks):
        fn(t)
    return (time.process_time() - t0) / ticks


def run(n: int = 20_000, ticks: int = 200, seed: int = 0) -> list[tuple[str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for name, cls in sorted(DETECTORS.items()):
        det = cls(n)
        data = [_rows(name, rng, n) for _ in range(8)]

        def tick(t: int, det=det, data=data) -> None:  # type: ignore[no-untyped-def]
            x = data[t % len(data)]
            det.score_many(x)
            det.learn_many(x)

        out.append((f"detector {name}", _cpu(tick, ticks)))
    # the watch's own per-second work: every monitor over n series with root at 0
    cols = {
        "orders": rng.poisson(5, n).astype(float),
        "visits": rng.poisson(50, n).astype(float),
        "pay_successes": rng.poisson(4, n).astype(float),
    }
    cols["pay_attempts"] = cols["pay_successes"] + rng.poisson(0.2, n)
    cols["refunds"] = rng.poisson(0.15, n).astype(float)
    for c in ("orders", "visits", "refunds"):
        cols[c][0] = cols[c].sum()
    groups = {(f"d{k}",): np.arange(1 + k, n, 16) for k in range(16)}
    monitors = [WATCHED[m].monitor() for m in WATCHED]
    for m in monitors:
        m.resize(n)

    def watch_tick(t: int) -> None:
        for m in monitors:
            m.step(cols, 0, t * 1000, False, groups)

    names = ", ".join(m.replace("_", " ") for m in WATCHED)
    out.append((f"watch monitors ({names})", _cpu(watch_tick, ticks)))
    out.append(("watch end to end (cells in, root cause, alerts)", _full_watch(n, ticks, rng)))
    return out


def _full_watch(n: int, ticks: int, rng: np.random.Generator) -> float:
    """`Watch.process` on one frame of labelled cells per second: n series (market,
    40 regions, 4 channels, the rest merchants), Poisson counts."""
    from warroom.detect.pipeline import Watch
    from warroom.engine.cube import GSET_ID

    keys = [(GSET_ID[()], "", "")]
    keys += [(GSET_ID[("region",)], f"R-{i}", "") for i in range(40)]
    keys += [(GSET_ID[("channel",)], c, "") for c in ("app", "web", "mini", "other")]
    keys += [(GSET_ID[("merchant",)], f"m-{i}", "") for i in range(n - len(keys))]
    base = pl.DataFrame(keys, schema=["gset", "k1", "k2"], orient="row")
    lam = rng.pareto(1.5, n) + 0.2
    frames = []
    for t in range(ticks + 1):
        orders = rng.poisson(lam).astype(np.int64)
        frames.append(
            base.with_columns(
                win=pl.lit(1_794_326_400_000 + 3_600_000 + t * 1000, pl.Int64),
                orders=orders,
                visits=orders * 10,
                pay_successes=orders,
                pay_attempts=orders,
                refunds=rng.poisson(lam * 0.03).astype(np.int64),
            )
        )
    watch = Watch(lambda _a: None)
    return _cpu(lambda t: watch.process(frames[t]), ticks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--series", type=int, default=20_000)
    p.add_argument("--ticks", type=int, default=200)
    a = p.parse_args()
    rows = run(a.series, a.ticks)
    print(f"{a.series:,} series, {a.ticks} ticks; CPU per tick and share of one core at 1 Hz")
    for name, sec in rows:
        print(f"  {name:<58} {sec * 1000:8.2f} ms  {sec * 100:6.2f} % of a core")
    total = dict(rows)["watch end to end (cells in, root cause, alerts)"]
    print(f"  the watch at 1 Hz: {total * 100:.2f} % of one core (target: <= 10 %)")


if __name__ == "__main__":
    main()
