"""Running the guard inside `warroom run` (the Runner's `on_step`) or over a file."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from warroom.alerts.model import Alert, AlertLog
from warroom.guards.catalog.guard import CatalogGuard, GuardConfig
from warroom.guards.catalog.journal import GuardJournal
from warroom.guards.catalog.snapshot import Snapshot
from warroom.guards.catalog.store import CatalogStore


def attach(
    runner: Any,
    catalog: Path,
    alerts_out: IO[str] | None = None,
    config: GuardConfig | None = None,
    persist_seconds: float = 2.0,
    on_alert: Callable[[Alert], None] | None = None,
    checkpointed: bool = False,
) -> CatalogGuard:
    """Feed a `Runner`'s steps to a new guard; findings are saved in the runner's store
    (every `persist_seconds` of wall time, at once after a step that fired or resolved
    an alert, and at the end) and alerts written as NDJSON and/or given to `on_alert`.

    With `checkpointed` (the server, whose HTTP input cannot be read again) the guard
    checkpoints with the engine (journal.py); otherwise a resumed run rebuilds it by
    replaying the input before the checkpoint (`replay_prefix`).
    """
    snapshot = Snapshot.load(catalog, runner.rates)
    log = AlertLog(alerts_out) if alerts_out else None
    sent = [0]  # alerts since the last save: a new or resolved finding is saved at once

    def alert(a: Alert) -> None:
        sent[0] += 1
        if log is not None:
            log(a)
        if on_alert is not None:
            on_alert(a)

    guard = CatalogGuard(snapshot, config, on_alert=alert)
    journal = GuardJournal(guard) if checkpointed else None
    if journal is not None:
        runner.join("catalog-guard", journal.participant)
    else:
        replay_prefix(runner, guard)
    store = CatalogStore(runner.store.engine)
    previous = runner.on_step
    last = [time.monotonic()]

    def on_step(step: Any) -> None:
        if previous is not None:
            previous(step)
        guard.step(step.records, step.sku_changes)
        if journal is not None:
            journal.record(step.records, step.sku_changes)
        if sent[0] or time.monotonic() - last[0] >= persist_seconds:
            store.save(guard.findings, snapshot.rates.base_digits)
            last[0], sent[0] = time.monotonic(), 0

    runner.on_step = on_step
    runner.catalog_guard = guard
    return guard


def save(runner: Any, guard: CatalogGuard) -> int:
    """Save the findings changed since the last save (at the end of a run or a server)."""
    return CatalogStore(runner.store.engine).save(
        guard.findings, guard.state.snap.rates.base_digits
    )


def replay_prefix(runner: Any, guard: CatalogGuard) -> int:
    """Feed the guard the input a resumed runner has already consumed, through a fresh
    decoder and engine (nothing is written): the guard is deterministic, so it ends in
    the state an uninterrupted run would have. Returns the records replayed; standard
    input cannot be read again, so there the guard starts from the snapshot."""
    from warroom.contract.decode import Decoder
    from warroom.engine.native import new_engine
    from warroom.sources import files

    events, end = runner.opts.events, runner.offset
    if end == 0 or events == "-":
        return 0
    decoder, engine = Decoder(runner.rates), new_engine(runner.opts.config)
    count = 0
    if files.is_columnar(events):
        for chunk in files.arrow_chunks(events, 0, runner.opts.batch_rows):
            start = chunk.first_line - 1
            if start >= end or chunk.table is None:
                break
            table = chunk.table.slice(0, end - start)
            batch = decoder.decode_arrow(table, chunk.first_line)
            step = engine.process(batch)
            guard.step(step.records, step.sku_changes)
            count += batch.records
        return count
    for chunk in files.ndjson_chunks(events, 0, 0, runner.opts.batch_bytes):
        data = chunk.data or b""
        if chunk.end_offset > end:  # the checkpoint is at a line end inside this chunk
            data = data[: len(data) - (chunk.end_offset - end)]
        if data:
            batch = decoder.decode_ndjson(data, chunk.first_line)
            step = engine.process(batch)
            guard.step(step.records, step.sku_changes)
            count += batch.records
        if chunk.end_offset >= end:
            break
    return count


class Attached:
    """A guard attached to a `Runner` for `warroom run`; `close` ends it at end of input."""

    def __init__(self, runner: Any, catalog: Path | None, alerts_out: Path) -> None:
        from warroom.errors import WarroomError

        if catalog is None:
            raise WarroomError("--catalog-alerts-out needs --catalog (the snapshot)")
        self.fh = alerts_out.open("w", encoding="utf-8")
        self.guard = attach(runner, catalog, self.fh)
        self.store = CatalogStore(runner.store.engine)

    def close(self) -> None:
        self.guard.finish()
        self.store.save(self.guard.findings, self.guard.state.snap.rates.base_digits)
        self.fh.close()


def check_file(
    events: str,
    catalog: Path,
    rates: Path | None,
    data_dir: Path | None = None,
    alerts_out: IO[str] | None = None,
    config: GuardConfig | None = None,
) -> CatalogGuard:
    """Replay an events file through the engine and the guard; persist the findings."""
    from warroom.runner import Runner, RunOptions

    with tempfile.TemporaryDirectory(prefix="warroom-catalog-") as tmp:
        opts = RunOptions(events=events, data_dir=data_dir or Path(tmp), rates=rates)
        runner = Runner(opts)
        guard = attach(runner, catalog, alerts_out, config, persist_seconds=float("inf"))
        runner.run()
        guard.finish()
        CatalogStore(runner.store.engine).save(guard.findings, guard.state.snap.rates.base_digits)
        runner.store.engine.dispose()
    return guard
