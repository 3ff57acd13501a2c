"""`warroom run`: source -> decode -> engine -> store, with checkpoints.

Each checkpoint commits, in one transaction, the position reached in the input, the
engine state and everything produced since the previous checkpoint. On start the
runner restores the last checkpoint and reads on from its position, so a run killed
at any moment and started again ends with the same aggregates as a clean run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psutil

from warroom.contract.decode import DecodedBatch, Decoder, Quarantined
from warroom.contract.rates import RatesTable
from warroom.engine.config import EngineConfig
from warroom.engine.cube import GSETS, METRIC_COLS
from warroom.engine.engine import SECOND, Counters, LabelTable, StepResult, label_with
from warroom.engine.native import new_engine
from warroom.engine.rollup import Part
from warroom.engine.runs import Run
from warroom.errors import StateError
from warroom.memtrim import keep_freed_memory, release_free_memory
from warroom.participants import Participant
from warroom.sources import coalesce, files
from warroom.store.db import Commit, Store

Progress = Callable[[int, Counters], None]  # (position reached, counters)


@dataclass
class RunOptions:
    events: str
    data_dir: Path
    rates: Path | None = None
    catalog: Path | None = None
    config: EngineConfig = field(default_factory=EngineConfig)
    batch_bytes: int = files.DEFAULT_BATCH_BYTES
    # Arrow / Parquet rows a step. A chunk's decoding frees ~1.3 KB of intermediates a
    # row at once: 10 M events from Arrow peaked 90-160 MiB lower than with 131,072.
    batch_rows: int = 65_536
    checkpoint_seconds: float = 2.0
    # Also checkpoint once this many finalised cells wait in memory: the native engine
    # makes ~0.5 cells per event, and a checkpoint held them about three times over
    # (labelled, sorted, written; not sorted since session 12). Session 10, 10 M events:
    # peak 2,003 MiB with 6 s between checkpoints, 1,426 MiB at 250,000 cells; from Arrow
    # 100-200 MiB less at 125,000 than at 250,000, for 2-5 % more time. Session 12, 250,000:
    # 10 M from NDJSON 10.0 -> 9.0 s (one run), from Arrow a peak of 1,489 MiB, over budget
    # (docs/benchmarks.md).
    checkpoint_cells: int = 125_000
    flush_at_end: bool = True
    live_speed: float | None = None  # pace the input by event time (the demo's live mode)
    # Keep freed memory for the next batches (memtrim.keep_freed_memory, set for the
    # whole process) instead of handing it back after each checkpoint, as a server does.
    keep_freed_memory: bool = False


@dataclass
class _Writing:
    """A checkpoint being written in the background."""

    landed: Future[None]
    commit: Commit  # its runs are the engine's; its parts are copies of these
    parts: list[Part]
    # its new cells by period, labelled in the checkpoint thread into `commit.cells` (and
    # then emptied): if that fails, the next checkpoint takes them
    unlabelled: dict[int, pl.DataFrame]


@dataclass
class RunSummary:
    counters: Counters
    seconds: float
    peak_rss_bytes: int
    resumed_from_line: int
    events_per_second: float


class Runner:
    def __init__(self, opts: RunOptions, on_step: Callable[[StepResult], None] | None = None):
        self.opts = opts
        if opts.keep_freed_memory:
            keep_freed_memory()
        self.store = Store.open(opts.data_dir)
        self.rates = self._rates()
        self.decoder = Decoder(self.rates)
        self.engine = new_engine(opts.config)
        self.source = files.fingerprint(opts.events)
        self.on_step = on_step
        self.participants: dict[str, Participant] = {}
        self._pending = self._empty_commit()
        self._retry = self._empty_commit()  # what a failed background commit held
        self._writer: ThreadPoolExecutor | None = None  # background checkpoints
        self._writing: _Writing | None = None
        self._check_settings()
        cp = self.store.load_checkpoint()
        self.offset, self.line = 0, 0
        if cp is not None:
            if cp.source != self.source and self.source != "stdin":
                raise StateError(
                    f"{opts.data_dir} holds a run of another input ({cp.source}); "
                    "use a new --data directory"
                )
            self.engine.restore(cp.state, self.store.load_runs(), self.store.load_parts())
            self.offset, self.line = cp.offset, cp.line
        elif opts.catalog is not None:
            self.engine.set_catalog(load_catalog_categories(opts.catalog))
        self.resumed = cp is not None
        # windows before this are final and in the store (the server's watch saves up to it)
        self.committed_closed_before = self.engine.closed_before

    def join(self, name: str, participant: Participant) -> bool:
        """Checkpoint `participant` with the engine from now on; on a resumed run, give
        it back its state from the last checkpoint. True when it was restored."""
        self.participants[name] = participant
        saved = self.store.load_participant(name) if self.resumed else None
        if saved is None:
            participant.start_fresh()
            return False
        participant.restore_state(*saved)
        return True

    def run(self, progress: Progress | None = None) -> RunSummary:
        started, resumed = time.perf_counter(), self.line
        proc = psutil.Process()
        try:
            peak = self._replay(progress, proc)
        finally:
            self.wait_for_writes()
        if self.opts.flush_at_end:
            release_free_memory()  # the end's rollups are the run's peak
            self._collect(None, self.engine.flush())
        self.checkpoint(complete=self.opts.flush_at_end)
        peak = max(peak, proc.memory_info().rss)
        elapsed = time.perf_counter() - started
        c = self.engine.counters
        return RunSummary(c, elapsed, peak, resumed, (c.read - 0) / elapsed if elapsed else 0.0)

    def _replay(self, progress: Progress | None, proc: psutil.Process) -> int:
        """The input through the engine, with checkpoints; returns the peak RSS seen."""
        last_commit = time.monotonic()
        interval = self.opts.checkpoint_seconds
        peak = proc.memory_info().rss
        for chunk, batch in self._decoded():
            self._collect(batch, self.engine.process(batch))
            self.offset, self.line = chunk.end_offset, chunk.end_line
            if (
                time.monotonic() - last_commit >= interval
                or self._cells_waiting() >= self.opts.checkpoint_cells
            ):
                peak = max(peak, proc.memory_info().rss)
                began = time.monotonic()
                self.checkpoint(complete=False, background=True)
                last_commit = time.monotonic()
                # A checkpoint costs in proportion to the open state: space them so that
                # they take at most ~10 % of the replay (a crash only replays more), but
                # no more than 3x apart: cells wait in memory until they are written.
                base = self.opts.checkpoint_seconds
                interval = min(max(base, 10 * (last_commit - began)), 3 * base)
            if progress:
                progress(self.offset, self.engine.counters)
        return peak

    def feed_many(
        self, batches: list[tuple[DecodedBatch, str]], position: tuple[int, int] | None = None
    ) -> list[coalesce.Outcome]:
        """Batches from outside `run`, in order, as one engine step (the server's writer
        takes every batch waiting in its queue at once: a step has a fixed cost). Each
        batch's quarantined and late records are kept with its own source and lines;
        returns what became of each batch's records."""
        decoded = [b for b, _ in batches]
        combined, spans = coalesce.combine(decoded)
        step = self.engine.process(combined)
        self._collect(None, step)
        results = coalesce.outcomes(decoded, spans, step)
        for (batch, source), result in zip(batches, results, strict=True):
            self._keep_bad(batch.quarantined, result.late_rows, source)
        if position is not None:
            self.offset, self.line = position
        return results

    def checkpoint(self, complete: bool, background: bool = False) -> Future[None]:
        """Commit the position, the engine state and what was produced since the last
        checkpoint, in one transaction; the returned future is done once it has landed.

        `background`: build it here, write it in the checkpoint thread while the engine
        goes on. A checkpoint waits for the one before it, so they land in order, and the
        participants are told theirs landed in this thread. A checkpoint that fails,
        here or in the background, leaves what it held pending: the next one writes it
        (the server goes on; `run` stops with the error)."""
        self.wait_for_writes()
        pending, engine, retry = self._pending, self.engine, self._retry
        rollups = list(engine.rollups.values())
        state = engine.state_blob()  # first: it drains the index logs into new runs
        new_runs = [r for idx in (engine.seen, engine.orders) for r in idx.runs if not r.persisted]
        new_parts = [part for r in rollups for part in r.parts if not part.persisted]
        # new frames (a frame is read by one thread at a time: see command/order_index.py)
        unlabelled = {p: pl.concat(frames) for p, frames in pending.cells.items() if frames}
        labels = engine.label_table()
        commit = Commit(
            source=self.source,
            offset=self.offset,
            line=self.line,
            complete=complete,
            state=state,
            new_runs=new_runs,
            dropped_runs=retry.dropped_runs + engine.seen.dropped + engine.orders.dropped,
            cells={period: list(frames) for period, frames in retry.cells.items()},  # labelled
            quarantined=retry.quarantined + pending.quarantined,
            late=retry.late + pending.late,
            participants={n: part.checkpoint_state() for n, part in self.participants.items()},
            # copies: a frame written out in one thread while another reads it can
            # deadlock polars (see command/order_index.py); copies share the data
            new_parts=[Part(p.cells.clone(), p.sketch.clone(), p.part_id) for p in new_parts],
            dropped_parts=retry.dropped_parts + [i for r in rollups for i in r.dropped],
        )
        closed_before = engine.closed_before
        prune_before = engine.max_ts - self.opts.config.retention_1s_ms
        if not background:  # raises: all still pending
            self._label_and_write(commit, unlabelled, labels, closed_before, prune_before)
            self._handed_over(new_runs, new_parts, rollups)
            self._committed()
            landed: Future[None] = Future()
            landed.set_result(None)
            return landed
        self._handed_over(new_runs, new_parts, rollups)  # the engine reads on meanwhile
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        landed = self._writer.submit(
            self._label_and_write, commit, unlabelled, labels, closed_before, prune_before
        )
        self._writing = _Writing(landed, commit, new_parts, unlabelled)
        return landed

    def _handed_over(self, runs: list[Run], parts: list[Part], rollups: list[Any]) -> None:
        """What a commit holds is no longer pending: its runs and parts count as written
        (the next commit must not write them, and one that replaces them deletes them)."""
        for item in (*runs, *parts):
            item.persisted = True
        self.engine.seen.dropped, self.engine.orders.dropped = [], []
        for r in rollups:
            r.dropped = []
        self._pending, self._retry = self._empty_commit(), self._empty_commit()

    def wait_for_writes(self) -> None:
        """The checkpoint being written in the background, landed, and the participants
        told; if it failed, what it held is pending again and its error is raised."""
        if self._writing is None:
            return
        writing, self._writing = self._writing, None
        try:
            writing.landed.result()
        except BaseException:
            self._take_back(writing)
            raise
        self._committed()

    def _take_back(self, failed: _Writing) -> None:
        """A background commit failed: the next checkpoint writes what it held."""
        for item in (*failed.commit.new_runs, *failed.parts):  # a failed one keeps them
            item.persisted = False
        self._retry = failed.commit  # its cells (labelled), bad records and deletions
        for period, frame in failed.unlabelled.items():  # its labelling failed: again
            self._pending.cells.setdefault(period, []).insert(0, frame)

    def _committed(self) -> None:
        for part in self.participants.values():
            confirm = getattr(part, "committed", None)  # Journaled: its delta is on disk
            if confirm is not None:
                confirm()

    def _label_and_write(
        self,
        p: Commit,
        unlabelled: dict[int, pl.DataFrame],
        labels: LabelTable,
        closed_before: int,
        prune_before: int,
    ) -> None:
        _label(p, unlabelled, labels)
        self._write(p, closed_before, prune_before)

    def _write(self, p: Commit, closed_before: int, prune_before: int) -> None:
        self.store.commit(p)
        self.committed_closed_before = closed_before
        # written: freed before the trim (a background commit is kept until the next
        # checkpoint, for a retry had it failed)
        p.cells, p.participants, p.new_parts, p.new_runs = {}, {}, [], []
        if not self.opts.keep_freed_memory:
            release_free_memory()
        if prune_before > 0:
            self.store.prune_segments(SECOND, prune_before)

    # -- internals --------------------------------------------------------------
    def _decoded(self) -> Iterator[tuple[files.Chunk, DecodedBatch]]:
        """Chunks with their decoded batches, in order. The next chunk is read and decoded
        in a thread while the engine works on this one (polars, the scanner and file
        reads release the GIL); the one thread takes the chunks in turn, so the source
        is never read from two threads at once."""
        chunks = iter(self._chunks())

        def read_and_decode() -> tuple[files.Chunk, DecodedBatch] | None:
            chunk = next(chunks, None)
            return None if chunk is None else (chunk, self._decode(chunk))

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        try:
            ahead = pool.submit(read_and_decode)
            while (item := ahead.result()) is not None:
                ahead = pool.submit(read_and_decode)
                yield item
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the file, once no thread reads it

    def _chunks(self) -> Any:
        if self.opts.live_speed is not None:
            return files.paced_chunks(
                self.opts.events, self.opts.live_speed, self.offset, self.line
            )
        if files.is_columnar(self.opts.events):
            return files.arrow_chunks(self.opts.events, self.offset, self.opts.batch_rows)
        return files.ndjson_chunks(
            self.opts.events,
            self.offset,
            self.line,
            self.opts.batch_bytes,
            first_batch_bytes=files.FIRST_BATCH_BYTES,
        )

    def _decode(self, chunk: files.Chunk) -> DecodedBatch:
        if chunk.table is not None:
            batch = self.decoder.decode_arrow(chunk.table, chunk.first_line)
        else:
            assert chunk.data is not None
            batch = self.decoder.decode_ndjson(chunk.data, chunk.first_line)
        self.engine.precode(batch)  # in this thread, beside the engine: it alone codes here
        return batch

    def _collect(
        self, batch: DecodedBatch | None, step: StepResult, source: str | None = None
    ) -> None:
        p = self._pending
        for period, cells in step.cells.items():
            p.cells.setdefault(period, []).append(cells)
        if batch is not None:
            self._keep_bad(batch.quarantined, step.late, source or self.opts.events)
        if self.on_step is not None:
            self.on_step(step)

    def _cells_waiting(self) -> int:
        """Finalised cells not yet written (the next checkpoint writes them)."""
        return sum(c.height for frames in self._pending.cells.values() for c in frames)

    def _keep_bad(
        self, quarantined: list[Quarantined], late: pl.DataFrame | None, source: str
    ) -> None:
        """Quarantined and late records, for the next checkpoint, with their source.
        `late`: the engine's pos, id, kind, ts of each, as `late_t`'s rows (a frame)."""
        from warroom.contract.rules import RECORD_TYPES

        p = self._pending
        p.quarantined.extend(
            {"source": source, "line": q.line, "reason": q.reason, "raw": q.raw}
            for q in quarantined
        )
        if late is not None and late.height:
            types = dict(enumerate(RECORD_TYPES))
            p.late.append(
                late.select(
                    source=pl.lit(source, pl.String),
                    line=pl.col("pos").cast(pl.Int64),
                    id=pl.col("id"),
                    type=pl.col("kind").replace_strict(types, return_dtype=pl.String),
                    ts=pl.col("ts").cast(pl.Int64),
                )
            )

    def _rates(self) -> RatesTable:
        stored = self.store.get_meta("rates")
        given = RatesTable.load(self.opts.rates) if self.opts.rates else None
        if stored is not None:
            table = RatesTable.parse(stored, "stored rates")
            if given is not None and given.source_text != stored:
                raise StateError(
                    f"{self.opts.data_dir} was built with another rates table; "
                    "use the same --rates or a new --data directory"
                )
            return table
        table = given or RatesTable.load(None)
        self.store.set_meta({"rates": table.source_text})
        return table

    def _check_settings(self) -> None:
        settings = json.dumps(self.opts.config.as_dict(), sort_keys=True)
        self._same_meta(
            "engine_config",
            settings,
            lambda stored: (
                f"was built with engine settings {stored}; "
                "resume with the same settings or use a new --data directory"
            ),
        )
        # Stored cells are read by grouping-set id and column: another layout misreads them.
        layout = json.dumps({"gsets": GSETS, "metrics": METRIC_COLS})
        self._same_meta(
            "cube_layout",
            layout,
            lambda _: (
                "was written by a warroom with another cube layout; use a new --data directory"
            ),
        )

    def _same_meta(self, key: str, wanted: str, why: Callable[[str], str]) -> None:
        """Record `wanted` under `key` in a new store; refuse a store holding another."""
        stored = self.store.get_meta(key)
        if stored is None:
            self.store.set_meta({key: wanted})
        elif stored != wanted:
            raise StateError(f"{self.opts.data_dir} {why(stored)}")

    @staticmethod
    def _empty_commit() -> Commit:
        return Commit("", 0, 0, False, b"", [], [], {}, [], [])


def _label(p: Commit, unlabelled: dict[int, pl.DataFrame], labels: LabelTable) -> None:
    """The new cells labelled into the commit, all or none; `unlabelled` is emptied once
    they are in it. Not sorted: every reader of a segment groups or sorts what it reads
    (`Store.cells` gives no order), and sorting by the labels took 0.3 s of the 2 M-event
    replay's 3 s (a multi-column string sort and a gather of every metric column)."""
    labelled = {
        period: label_with(frame, labels, ordered=False) for period, frame in unlabelled.items()
    }
    for period, frame in labelled.items():
        p.cells.setdefault(period, []).append(frame)
    unlabelled.clear()


def load_catalog_categories(path: Path) -> dict[str, str]:
    frame = pl.read_ndjson(path, schema={"sku_id": pl.String, "category": pl.String})
    frame = frame.drop_nulls()
    return dict(zip(frame["sku_id"].to_list(), frame["category"].to_list(), strict=True))
