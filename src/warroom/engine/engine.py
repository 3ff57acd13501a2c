"""The event-time engine: dedup, watermark and lateness, attribution, exact windows.

Every decision is made per record, in input order, from the records before it, so
the output does not depend on how the input is cut into batches:
- W(i), the watermark before record i, is max(ts of records 1..i-1) - lateness.
- Record i is a duplicate if the latest earlier record with its id that was not a
  duplicate has ts >= W(i) - dedup_horizon.
- Otherwise it is late if its 1-second window ended at or before W(i).
- A window is finalised once, at the first record that moves W past its end;
  payments, refunds and shipments in it take the dimensions of their order if that
  order arrived before that record and W there is at most order_horizon past the
  order's ts, else `unknown` (EVENTS.md, Attribution).

This numpy/polars engine is the reference; engine/native.py does the same per record
in C++ and is what runs unless WARROOM_NATIVE=0.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from warroom.contract.decode import DecodedBatch
from warroom.engine import cube, hll
from warroom.engine.config import EngineConfig
from warroom.engine.cube import GSETS, KEY_COLS, LATENCY_BOUNDS_MS, METRIC_COLS
from warroom.engine.dims import DIMS, ORDER_DIMS, Dictionary
from warroom.engine.rollup import Part, Rollup, continue_part_ids_after
from warroom.engine.runs import Run, SortedRuns, continue_ids_after

SECOND, MINUTE, HOUR = 1_000, 60_000, 3_600_000
NEVER = np.iinfo(np.int64).min // 4
FOREVER = np.iinfo(np.int64).max // 4
_STATUS = {
    "succeeded": cube.PAY_OK,
    "failed": cube.PAY_FAILED,
    "shipped": cube.SHIP_SHIPPED,
    "delivered": cube.SHIP_DELIVERED,
    "returned": cube.SHIP_RETURNED,
}
_ATTRIBUTED = (cube.KIND_PAYMENT, cube.KIND_REFUND, cube.KIND_SHIPMENT)
# What an accepted record must keep until its window closes (not its id or position).
_PENDING_COLS = (
    "kind",
    "win",
    "order_hash",
    "user_hash",
    *DIMS,
    "value_base",
    "value_minor",
    "status",
    "lat_bucket",
)


@dataclass
class Counters:
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    late: int = 0


@dataclass
class StepResult:
    cells: dict[int, pl.DataFrame] = field(default_factory=dict)  # period ms -> coded cells
    late: pl.DataFrame | None = None  # pos, id, kind, ts of records past the lateness
    # The batch's parsed sku_change records that are not duplicates: what the guards read.
    sku_changes: list[dict[str, Any]] = field(default_factory=list)
    decoded: pl.DataFrame | None = field(default=None, repr=False)  # the batch, as decoded
    fresh: np.ndarray | None = field(default=None, repr=False)  # mask: not a duplicate
    first_seq: int = 0  # the sequence number of the batch's first record

    @cached_property
    def records(self) -> pl.DataFrame | None:
        """The batch's records that are not duplicates (late ones included), as decoded,
        in input order, each with its `seq` (its place in the whole input). Made on first
        use: a run with no guard never pays for it."""
        if self.decoded is None or self.fresh is None:
            return None
        seq = pl.int_range(self.first_seq, self.first_seq + self.decoded.height, dtype=pl.Int64)
        return self.decoded.with_columns(seq=seq).filter(pl.Series(self.fresh))


class Engine:
    dictionary = Dictionary  # the dimension dictionaries' type

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.max_ts = NEVER
        self.closed_before = NEVER  # every window starting before this is final
        # Records decoded so far: a record's sequence number is its place in the whole
        # input. Positions (`pos`) are line numbers of one source, and restart at 1 in
        # every HTTP batch, so they cannot say whether an order came before a record.
        self.seq = 0
        self.counters = Counters()
        self.dicts = {d: self.dictionary() for d in DIMS}
        # the latest earlier occurrence of an id; the first line of an order
        self.seen = SortedRuns(expire_col="ts", keep="last")
        self.orders = SortedRuns(expire_col="ts", keep="first")
        self.sku_category = {}
        self.pending: pl.DataFrame | None = None
        self.rollups = {MINUTE: Rollup(MINUTE), HOUR: Rollup(HOUR)}

    # -- the stream -------------------------------------------------------------
    def precode(self, batch: DecodedBatch) -> None:
        """Code the batch ahead of `process`, in the thread that decoded it (`run`). The
        reference codes batch-wise inside `process`, so it does nothing here."""

    def process(self, batch: DecodedBatch) -> StepResult:
        if not self._count_read(batch):
            return StepResult()
        rows = self._rows(batch.frame)
        n = rows.height
        ts = rows["ts"].to_numpy()
        seq = self.seq + np.arange(n, dtype=np.int64)
        self.seq += n
        lateness = self.config.lateness_ms
        high = np.maximum(np.maximum.accumulate(ts), self.max_ts)
        w_after = np.maximum(high - lateness, self.closed_before)
        w_before = np.empty_like(w_after)
        w_before[0] = max(self.max_ts - lateness, self.closed_before)
        w_before[1:] = w_after[:-1]

        dup = self._duplicates(rows["id_hash"].to_numpy(), ts, w_before)
        late = ~dup & (ts // SECOND * SECOND + SECOND <= w_before)
        fresh = ~dup
        self.seen.add(rows["id_hash"].to_numpy()[fresh], {"ts": ts[fresh]})
        self._index_orders(rows, fresh, seq)
        keep = rows.filter(pl.Series(fresh & ~late)).select(_PENDING_COLS)
        self.pending = keep if self.pending is None else pl.concat([self.pending, keep])
        self.max_ts = int(high[-1])
        result = self._decided(batch, dup, late, int(seq[0]))
        closed = int(w_after[-1]) // SECOND * SECOND
        if closed > self.closed_before:
            result.cells = self._finalise(closed, w_after, seq)
        self.seen.evict(int(w_after[-1]) - self.config.dedup_horizon_ms)
        self.orders.evict(int(w_after[-1]) - self.config.order_horizon_ms)
        return result

    def _count_read(self, batch: DecodedBatch) -> bool:
        """Counts the batch's records read and quarantined; False when none is valid."""
        self.counters.read += batch.records
        self.counters.quarantined += len(batch.quarantined)
        return batch.frame.height > 0

    def _decided(
        self, batch: DecodedBatch, dup: np.ndarray, late: np.ndarray, first_seq: int
    ) -> StepResult:
        """Counts the batch's duplicate, late and accepted records; what its step hands
        on (the late records, the sku changes that are not duplicates, the batch)."""
        f = batch.frame
        n_dup, n_late = int(dup.sum()), int(late.sum())
        self.counters.duplicates += n_dup
        self.counters.late += n_late
        self.counters.accepted += f.height - n_dup - n_late
        late_cols = f.select("pos", "id", "kind", "ts")
        return StepResult(
            # no filter when none is late (nearly always): on the engine's thread a polars
            # call waits for polars' pool, which the decoder and the checkpoint keep busy
            late=late_cols.filter(pl.Series(late)) if n_late else late_cols.clear(),
            sku_changes=_fresh_changes(batch.sku_changes, f["pos"].to_numpy()[dup]),
            decoded=f,
            fresh=~dup,
            first_seq=first_seq,
        )

    def flush(self) -> StepResult:
        """End of input: finalise every open window and period."""
        if self.pending is None or self.pending.height == 0:
            closed = max(self.closed_before, 0)
        else:
            closed = int(self.pending["win"].max()) + SECOND  # type: ignore[arg-type]
        cells = self._finalise(closed, None, None, end=True)
        return StepResult(cells=cells)

    # -- steps ------------------------------------------------------------------
    def _rows(self, f: pl.DataFrame) -> pl.DataFrame:
        """The engine's columns: codes for dimensions, status and latency bucket."""
        kind = f["kind"].to_numpy()
        codes, lat_bucket, status = self._coded(f, kind)
        is_order, is_visit = kind == cube.KIND_ORDER, kind == cube.KIND_VISIT
        for d in ORDER_DIMS:  # attributed at finalisation
            own = is_order | (is_visit & (d in ("region", "country", "channel")))
            if d == "merchant" or d == "category":
                own |= kind == cube.KIND_SKU
            codes[d] = np.where(own, codes[d], 0).astype(np.int32)
        codes["method"] = np.where(kind == cube.KIND_PAYMENT, codes["method"], 0).astype(np.int32)
        return pl.DataFrame(
            {
                "pos": f["pos"],
                "kind": f["kind"],
                "ts": f["ts"],
                "win": f["ts"] // SECOND * SECOND,
                "id": f["id"],
                "id_hash": f["id_hash"],
                "order_hash": f["order_hash"],
                "user_hash": f["user_hash"],
                **{d: codes[d] for d in DIMS},
                "value_base": f["value_base"],
                "value_minor": f["value_minor"],
                "status": status,
                "lat_bucket": lat_bucket,
            }
        )

    def _coded(
        self, f: pl.DataFrame, kind: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Dimension codes as each record carries them (a sku change's category is its
        sku's in the catalog, or unknown), latency buckets and status codes."""
        codes = {d: self.dicts[d].encode(f[_source_col(d)]) for d in DIMS}
        change = kind == cube.KIND_SKU
        if change.any():
            codes["category"] = np.where(change, 0, codes["category"]).astype(np.int32)
            if self.sku_category:  # a dict lookup per change: few rows, a large catalog
                rows = np.flatnonzero(change)
                skus = f["sku_id"].gather(rows).to_list()
                cat = pl.Series([self.sku_category.get(s) for s in skus], dtype=pl.String)
                codes["category"][rows] = self.dicts["category"].encode(cat)
        latency = f["latency_ms"].to_numpy()
        lat_bucket = np.where(
            np.isnan(latency.astype(np.float64)),
            -1,
            np.searchsorted(np.asarray(LATENCY_BOUNDS_MS), np.nan_to_num(latency), side="left"),
        ).astype(np.int8)
        return codes, lat_bucket, self._status(f["status"])

    def _status(self, column: pl.Series) -> np.ndarray:
        return column.replace_strict(_STATUS, default=0, return_dtype=pl.UInt8).to_numpy()

    def _duplicates(self, ids: np.ndarray, ts: np.ndarray, w_before: np.ndarray) -> np.ndarray:
        found, prior = self.seen.lookup(ids)
        prior_ts = np.where(found, prior.get("ts", np.zeros(len(ids), np.int64)), NEVER)
        _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        first_at = first[inverse]
        repeat = first_at != np.arange(len(ids))
        prior_ts = np.where(repeat, np.maximum(prior_ts, ts[first_at]), prior_ts)
        return (found | repeat) & (prior_ts >= w_before - self.config.dedup_horizon_ms)

    def _index_orders(self, rows: pl.DataFrame, fresh: np.ndarray, seq: np.ndarray) -> None:
        is_order = (rows["kind"].to_numpy() == cube.KIND_ORDER) & fresh
        if not is_order.any():
            return
        placed = rows.filter(pl.Series(is_order))
        self.orders.add(
            placed["order_hash"].to_numpy(),
            {
                "seq": seq[is_order],
                "ts": placed["ts"].to_numpy(),
                **{d: placed[d].to_numpy() for d in ORDER_DIMS},
            },
        )

    def _finalise(
        self, closed: int, w_after: np.ndarray | None, seq: np.ndarray | None, end: bool = False
    ) -> dict[int, pl.DataFrame]:
        out: dict[int, pl.DataFrame] = {}
        if self.pending is not None and self.pending.height:
            done = self.pending.filter(pl.col("win") < closed)
            self.pending = self.pending.filter(pl.col("win") >= closed)
            if done.height:
                done = self._attribute(done, w_after, seq)
                cells, users = cube.aggregate(done)
                minute = users.with_columns(pl.col("win") // MINUTE * MINUTE)
                self.rollups[MINUTE].add(cells, hll.registers(minute, list(KEY_COLS)))
                out[SECOND] = cells
        self.closed_before = max(self.closed_before, closed)
        self._close_periods(out, end)
        return out

    def _close_periods(self, out: dict[int, pl.DataFrame], end: bool) -> None:
        """Minutes and hours that `closed_before` (or the end) closed, into `out`."""
        until = FOREVER if end else self.closed_before
        rolled = self.rollups[MINUTE].close(until)
        if rolled is not None:
            out[MINUTE], sketch = rolled
            assert sketch is not None
            self.rollups[HOUR].add(out[MINUTE], sketch)  # hours are made of closed minutes
        rolled = self.rollups[HOUR].close(until, keep_sketch=False)
        if rolled is not None:
            out[HOUR] = rolled[0]

    def _attribute(
        self, done: pl.DataFrame, w_after: np.ndarray | None, seq: np.ndarray | None
    ) -> pl.DataFrame:
        kind = done["kind"].to_numpy()
        need = np.isin(kind, _ATTRIBUTED)
        if not need.any():
            return done
        found, payload = self.orders.lookup(done["order_hash"].to_numpy()[need])
        if w_after is None or seq is None:
            limit = np.full(int(need.sum()), FOREVER)
            bound = self.max_ts - self.config.lateness_ms - self.config.order_horizon_ms
        else:  # the sequence number of the record at which each row's window closed
            ends = done["win"].to_numpy()[need] + SECOND
            at = np.minimum(np.searchsorted(w_after, ends, side="left"), len(seq) - 1)
            limit, bound = seq[at], w_after[at] - self.config.order_horizon_ms
        # an order is forgotten once the watermark is its horizon past it
        ok = found & (payload["seq"] <= limit) & (payload["ts"] >= bound) if found.any() else found
        idx = np.flatnonzero(need)
        updates = {}
        for d in ORDER_DIMS:
            col = done[d].to_numpy().copy()
            col[idx] = np.where(ok, payload[d], 0) if found.any() else 0
            updates[d] = col
        return done.with_columns(**{d: pl.Series(v, dtype=pl.Int32) for d, v in updates.items()})

    def label(self, cells: pl.DataFrame) -> pl.DataFrame:
        """Cells with k1/k2 as the dimension values (strings), sorted by key."""
        return label_with(cells, self.label_table())

    def label_table(self) -> LabelTable:
        """Every dictionary's values in one table, each dimension from its own offset: what
        `label_with` needs, taken once so that another thread can label with it while the
        dictionaries grow."""
        table, offset = [""], {}
        for d in DIMS:
            offset[d] = len(table)
            table.extend(self.dicts[d].values)
        return LabelTable(pl.Series(table, dtype=pl.String), offset)

    def set_catalog(self, sku_category: dict[str, str]) -> None:
        self.sku_category = dict(sku_category)

    @property
    def sku_category(self) -> dict[str, str]:
        """The catalog's SKU -> category: replaced, never changed in place."""
        return self._sku_category

    @sku_category.setter
    def sku_category(self, value: dict[str, str]) -> None:
        self._sku_category = value
        # pickled once for every checkpoint's state: pickling it at each one took 16 ms
        # of the engine's thread (1 MB for the 2 M-event day's catalog)
        self._sku_category_pickled: bytes | None = None

    def _pickled_catalog(self) -> bytes:
        if self._sku_category_pickled is None:
            self._sku_category_pickled = pickle.dumps(self._sku_category, protocol=5)
        return self._sku_category_pickled

    # -- state ------------------------------------------------------------------
    def state_blob(self) -> bytes:
        """Everything but the sorted runs (those are persisted run by run)."""
        return pickle.dumps(
            {
                "config": self.config.as_dict(),
                "max_ts": self.max_ts,
                "closed_before": self.closed_before,
                "seq": self.seq,
                "counters": self.counters,
                "dicts": {d: list(v.values) for d, v in self.dicts.items()},  # a snapshot
                "sku_category": self._pickled_catalog(),  # bytes: see the setter
                "pending": self.pending,
                "rollup_parts": {p: r.state() for p, r in self.rollups.items()},
                "runs": {
                    "seen": [r.run_id for r in self.seen.runs],
                    "orders": [r.run_id for r in self.orders.runs],
                },
            },
            protocol=5,
        )

    def restore(self, blob: bytes, runs: dict[int, Run], parts: dict[int, Part]) -> None:
        st = pickle.loads(blob)
        self.max_ts, self.closed_before = st["max_ts"], st["closed_before"]
        order_runs = [runs[i] for i in st["runs"]["orders"]]
        # a state written before sequence numbers: go on after the largest position
        # the order index holds (positions of a file replay grow with its input)
        self.seq = st.get("seq", 1 + max((int(r.cols["seq"].max()) for r in order_runs), default=0))
        self.counters = st["counters"]
        self.dicts = {d: self.dictionary(list(v)) for d, v in st["dicts"].items()}
        catalog = st["sku_category"]  # a dict in states written before session 13
        self.sku_category = pickle.loads(catalog) if isinstance(catalog, bytes) else catalog
        pending = st["pending"]
        self.pending = None if pending is None else pending.select(_PENDING_COLS)
        for period, part_ids in st["rollup_parts"].items():
            self.rollups[period].restore(part_ids, parts)
        continue_part_ids_after(max(parts, default=0))
        continue_ids_after(max([st.get("next_run_id", 0), *runs], default=0))
        self.seen.runs = [runs[i] for i in st["runs"]["seen"]]
        self.orders.runs = [runs[i] for i in st["runs"]["orders"]]


def _fresh_changes(changes: list[dict[str, Any]], dup_pos: np.ndarray) -> list[dict[str, Any]]:
    if not changes or len(dup_pos) == 0:
        return changes
    dups = set(dup_pos.tolist())
    return [c for c in changes if c["pos"] not in dups]


def _source_col(dim: str) -> str:
    return {"merchant": "merchant_id"}.get(dim, dim)


@dataclass(frozen=True)
class LabelTable:
    strings: pl.Series  # "" then every dimension's values
    offset: dict[str, int]  # where each dimension's values begin in `strings`


def label_with(cells: pl.DataFrame, table: LabelTable, ordered: bool = True) -> pl.DataFrame:
    """`Engine.label` with a table taken before: each key column is one gather (a filter
    and two gathers per grouping set cost three times as much). `ordered=False` leaves
    the rows in the engine's order."""
    if cells.height == 0:
        return cells
    gset = cells["gset"].to_numpy().astype(np.int64)
    keys = {}
    for i, col in enumerate(("k1", "k2")):
        # offset of the dimension at key position i in each grouping set; -1: none
        off = np.asarray([table.offset[g[i]] if len(g) > i else -1 for g in GSETS], np.int64)
        at = off[gset]
        keys[col] = table.strings.gather(np.where(at >= 0, at + cells[col].to_numpy(), 0))
    labelled = cells.with_columns(**keys).select(*KEY_COLS, *METRIC_COLS)
    return labelled.sort(list(KEY_COLS)) if ordered else labelled
