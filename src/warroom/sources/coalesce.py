"""Several decoded batches as one engine step, and each batch's own outcome after it.

An engine step has a fixed cost (finalising windows over every grouping set) whatever
its size, so a server fed many small HTTP batches spent its time on that cost: fed one
by one in process, decode included, 100-record batches took 30 ms each (3,320 records/s)
and 10,000-record ones 46 ms (219,000 records/s). The server's writer therefore
takes every batch waiting in its queue as one step. The engine's output does not depend
on how its input is cut into batches (tested), so this changes no figure.

Line numbers restart at 1 in every HTTP batch; in the combined batch each batch's lines
are shifted past the previous one's, and shifted back when late records are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from warroom.contract.decode import DecodedBatch
from warroom.engine.engine import StepResult


@dataclass(frozen=True)
class Span:
    rows: tuple[int, int]  # the batch's valid records in the combined frame, [start, end)
    shift: int  # added to the batch's line numbers


@dataclass
class Outcome:
    """What became of one batch's records in a combined step."""

    records: int
    accepted: int
    quarantined: int
    duplicates: int
    late: int
    late_rows: pl.DataFrame  # pos (the batch's own line), id, kind, ts


def combine(batches: list[DecodedBatch]) -> tuple[DecodedBatch, list[Span]]:
    if len(batches) == 1:
        only = batches[0]
        return only, [Span((0, only.frame.height), 0)]
    frames, changes, spans = [], [], []
    row, shift = 0, 0
    for b in batches:
        if b.frame.height:
            frames.append(b.frame.with_columns(pl.col("pos") + shift))
        changes.extend({**c, "pos": int(c["pos"]) + shift} for c in b.sku_changes)
        spans.append(Span((row, row + b.frame.height), shift))
        row += b.frame.height
        shift += 1 + _last_line(b)
    frame = pl.concat(frames) if frames else batches[0].frame
    quarantined = [q for b in batches for q in b.quarantined]  # counted by the engine
    return DecodedBatch(frame, quarantined, sum(b.records for b in batches), changes), spans


def outcomes(batches: list[DecodedBatch], spans: list[Span], step: StepResult) -> list[Outcome]:
    """Each batch's counts, from the step's per-record marks."""
    fresh = step.fresh if step.fresh is not None else np.zeros(0, dtype=bool)
    late = step.late if step.late is not None else pl.DataFrame({"pos": []}, {"pos": pl.Int64})
    shifts = np.asarray([s.shift for s in spans], dtype=np.int64)
    # the batch of each late row; kept as frames, not Python tuples: a flood of late
    # records (16 % of them at 1 M/s offered) cost the writer a row each (session 16)
    owner = np.searchsorted(shifts, late["pos"].to_numpy(), side="right") - 1
    out = []
    for i, (b, span) in enumerate(zip(batches, spans, strict=True)):
        start, end = span.rows
        dups = int((~fresh[start:end]).sum()) if end > start else 0
        mine = late.filter(pl.Series(owner == i)).with_columns(pl.col("pos") - span.shift)
        out.append(
            Outcome(
                records=b.records,
                accepted=(end - start) - dups - mine.height,
                quarantined=len(b.quarantined),
                duplicates=dups,
                late=mine.height,
                late_rows=mine,
            )
        )
    return out


def _last_line(b: DecodedBatch) -> int:
    last = int(b.frame["pos"].max()) if b.frame.height else 0  # type: ignore[arg-type]
    return max(last, b.records, max((q.line for q in b.quarantined), default=0))
