"""The watch inside the server: finalised seconds in, alerts in the book, notifications out.

The writer thread (api/pipeline.py) must stay fast, so its on_step hook only queues
the step's finalised 1-second cells (still coded). A thread of its own labels them,
runs the watch (detect/pipeline.py) and feeds the alert book, whose `tick` hands what
grouping says is due to a third thread that sends it (with retries: a slow receiver
delays neither ingest, nor the watch, nor the API, which all share the book's lock).
Everything runs in event time, as in `warroom run --alerts-out`.

After a restart the book (alerts, history, silences) and the notification log come
back from the store, and so does the watch: its state is saved every `SAVE_EVERY_S`
seconds (only up to seconds whose cells a checkpoint has committed), and on start it is
restored and fed the stored 1-second cells after it, so its baselines are warm and the
alerts it would have raised in between are raised again (the book drops the ones it
already holds: alert ids are deterministic). Saved state older than the stored cells
(pruned past the 1-second retention) is not used: the watch then starts cold.

The campaigns' planned curves (the campaign book, kept in the store's meta table by
the API or `campaigns load`) tell the watch what surge to expect; they are read again
when they change, checked at most every `PLANS_EVERY_S` seconds on the watch thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl

from warroom.alerts.config import AlertsConfig, load
from warroom.alerts.dispatch import Batch, Route
from warroom.alerts.service import AlertBook
from warroom.campaigns.model import CampaignFile
from warroom.campaigns.watchplan import planned_curves
from warroom.detect.pipeline import NOT_STATE, Watch, WatchConfig
from warroom.engine.engine import SECOND, StepResult
from warroom.notify.nflog import NotificationLog
from warroom.notify.sender import Sender
from warroom.participants import Pickled
from warroom.runner import Runner

log = logging.getLogger("warroom.watch")
_STOP = object()
# without --alerts-config: group by alert name and scope, notify nobody (book and wall only)
DEFAULT_ROUTE = Route("default", group_by=("alertname", "region", "method"))
PLANS_EVERY_S = 5.0
SAVE_EVERY_S = 10.0  # wall seconds between saves of the watch's state
STATE_NAME = "server-watch"  # its row in the store's participant_state table
CAMPAIGNS_META = "campaigns"  # campaigns/service.py's key


class ServerWatch:
    def __init__(
        self,
        runner: Runner,
        config: AlertsConfig | None = None,
        watch_config: WatchConfig | None = None,
    ) -> None:
        self.runner = runner
        engine = runner.store.engine
        self.config = config
        self.sender: Sender | None = None
        if config is not None:
            self.sender = Sender(config.receivers, NotificationLog(engine), attempts=4)
        self.book = AlertBook(
            engine,
            config.routes if config else [DEFAULT_ROUTE],
            config.inhibit_rules if config else None,
            on_batch=self._send,
        )
        self.watch = Watch(self.book.ingest, watch_config or WatchConfig(), self.book.tick)  # type: ignore[arg-type]
        self.steps: queue.Queue[Any] = queue.Queue()
        self.batches: queue.Queue[Any] = queue.Queue()
        self.submitted = 0  # steps queued (by the writer thread)
        self.processed = 0  # steps the watch has judged (tests wait on it)
        self.failed = 0
        self.outcomes: deque[dict[str, Any]] = deque(maxlen=500)
        self._plans_raw: str | None = None
        self._plans_at = float("-inf")
        self._saved_at = time.monotonic()
        self.restored_through: int | None = None  # last second judged before a restart
        self._threads = [
            threading.Thread(target=self._loop, name="warroom-watch", daemon=True),
            threading.Thread(target=self._notify_loop, name="warroom-notify", daemon=True),
        ]

    @classmethod
    def from_file(cls, runner: Runner, path: Path | None) -> ServerWatch:
        return cls(runner, load(path) if path is not None else None)

    def attach(self) -> None:
        """Chain onto the runner's on_step (as `detect.pipeline.attach` does)."""
        previous = self.runner.on_step

        def on_step(step: StepResult) -> None:
            if previous is not None:
                previous(step)
            cells = step.cells.get(SECOND)
            if cells is not None and cells.height:
                self.submitted += 1
                self.steps.put(cells)  # labelled and judged on the watch's own thread

        self.runner.on_step = on_step

    def start(self) -> None:
        self.warm_up()
        for t in self._threads:
            t.start()

    # -- state across restarts ----------------------------------------------------
    def warm_up(self) -> int:
        """Restore the saved watch and judge the stored seconds after it (before the
        writer starts). Returns the seconds caught up on; 0 when it starts cold."""
        saved = self.runner.store.load_participant(STATE_NAME)
        if saved is None:
            return 0
        fresh = Watch(self.watch.sink, self.watch.config, self.watch.on_second)
        try:
            Pickled(fresh, skip=NOT_STATE).restore_state(saved[0])
        except Exception:  # another version's state: a cold watch beats no watch
            log.exception("the saved watch state is unreadable; the watch starts cold")
            return 0
        last = fresh.last_win
        if last is None:
            return 0
        earliest = self.runner.store.first_window(SECOND)
        if earliest is not None and earliest > last + SECOND:  # pruned since it was saved
            log.warning("the saved watch predates the stored seconds; it starts cold")
            return 0
        self.watch = fresh
        self.restored_through = last
        self.refresh_plans(force=True)
        cells = self.runner.store.cells(SECOND, t0=last + SECOND)
        if cells.height == 0:
            return 0
        self.watch.process(cells.sort("win", "gset", "k1", "k2"))
        return cells["win"].n_unique()

    def save_state(self) -> None:
        """Save the watch, if every second it has judged is in a committed checkpoint
        (a crash loses uncommitted seconds, which are then judged again)."""
        last = self.watch.last_win
        if last is None or last >= self.runner.committed_closed_before:
            return
        state = Pickled(self.watch, skip=NOT_STATE).checkpoint_state()
        assert isinstance(state, bytes)
        self.runner.store.save_participant(STATE_NAME, state)
        self._saved_at = time.monotonic()

    def stop(self) -> None:
        for t, q in zip(self._threads, (self.steps, self.batches), strict=True):
            if t.is_alive():
                q.put(_STOP)
                t.join(timeout=30)
        try:
            self.save_state()  # the writer has stopped and checkpointed: all committed
        except Exception:
            log.exception("saving the watch's state failed")

    def idle(self) -> bool:
        """Every queued step judged and every due notification sent."""
        return self.processed >= self.submitted and self.batches.unfinished_tasks == 0

    def _loop(self) -> None:
        while True:
            item = self.steps.get()
            if item is _STOP:
                return
            try:
                self.process(item)
                if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
                    self.save_state()
            except Exception:  # one bad second must not end the watch
                self.failed += 1
                log.exception("the watch failed on a step")
            finally:
                self.processed += 1

    def process(self, cells: pl.DataFrame) -> None:
        self.refresh_plans()
        # labels only grow (append-only dictionaries), so labelling here, off the
        # writer thread, sees every code these finalised cells carry
        self.watch.process(self.runner.engine.label(cells))

    def refresh_plans(self, force: bool = False) -> None:
        """Give the watch the campaigns' planned curves when the stored book changed."""
        now = time.monotonic()
        if not force and now - self._plans_at < PLANS_EVERY_S:
            return
        self._plans_at = now
        raw = self.runner.store.get_meta(CAMPAIGNS_META)
        if raw == self._plans_raw:
            return
        self._plans_raw = raw
        try:
            curves = planned_curves(CampaignFile.model_validate_json(raw)) if raw else []
        except ValueError:  # the book validates what it stores; keep the last plans
            log.exception("campaign plans unreadable; the watch keeps its last ones")
            return
        self.watch.set_campaigns(curves)

    def _send(self, batch: Batch) -> None:
        if self.sender is not None:
            self.batches.put(batch)  # called under the book's lock: never send here

    def _notify_loop(self) -> None:
        while True:
            batch = self.batches.get()
            try:
                if batch is _STOP:
                    return
                self._deliver(batch)
            except Exception:
                log.exception("sending a notification failed")
            finally:
                self.batches.task_done()

    def _deliver(self, batch: Batch) -> None:
        assert self.sender is not None
        for o in self.sender(batch):
            self.outcomes.append(
                {
                    "ts": batch.ts,
                    "receiver": batch.receiver,
                    "group": batch.group_labels,
                    "alerts": [{"id": a.id, "state": a.state} for a in batch.alerts],
                    **asdict(o),
                }
            )
        self.sender.outcomes.clear()  # kept here, bounded, instead

    def notifications(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest delivery outcomes of this process, newest first (the notification
        log in the store is what prevents re-sends after a restart)."""
        return list(self.outcomes)[::-1][:limit]
