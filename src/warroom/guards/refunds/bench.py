"""Decision latency in process: decode a scenario's events, feed the guard batch by batch,
time each refund's decision (state lookups, link search, signals, rules)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.policy import Policy


@dataclass
class Latency:
    refunds: int
    records: int
    p50_us: float
    p99_us: float
    max_us: float
    guard_seconds: float  # all of `process`, state updates included

    @property
    def records_per_second(self) -> float:
        return self.records / self.guard_seconds if self.guard_seconds else 0.0


def bench_latency(events: Path, policy: Policy, rates: Path | None = None) -> Latency:
    from warroom.contract.decode import Decoder
    from warroom.contract.rates import RatesTable
    from warroom.sources.files import ndjson_chunks

    table = RatesTable.load(rates)
    decoder = Decoder(table)
    guard = RefundGuard(policy, table.base, table.base_digits)
    guard.timings = []
    spent, records = 0.0, 0
    for chunk in ndjson_chunks(str(events), 0, 0, 1 << 20):
        assert chunk.data is not None
        frame = decoder.decode_ndjson(chunk.data, chunk.first_line).frame
        records += frame.height
        t0 = time.perf_counter()
        guard.process(frame)
        spent += time.perf_counter() - t0
    ns = np.asarray(guard.timings, dtype=np.float64)
    if not len(ns):
        ns = np.zeros(1)
    return Latency(
        refunds=len(guard.timings),
        records=records,
        p50_us=float(np.percentile(ns, 50)) / 1e3,
        p99_us=float(np.percentile(ns, 99)) / 1e3,
        max_us=float(ns.max()) / 1e3,
        guard_seconds=spent,
    )
