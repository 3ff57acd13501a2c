"""The one writer: every batch (HTTP ingest, the demo's live file) goes through one thread.

Batches are decoded where they arrive (polars releases the GIL), then the writer thread
feeds them to the Runner's engine in arrival order. An ingest request is answered only
after a checkpoint holding its records has committed (group commit: one checkpoint for
all requests waiting), so an acknowledged record survives a crash and is never counted
twice when the client retries (its id is in the checkpointed dedup index). The writer
builds each checkpoint and goes on with the next batches while the runner's checkpoint
thread writes it; its requests are answered when it lands.

The writer takes every batch waiting in its queue (up to `COALESCE_ROWS` records) as
one engine step (`Runner.feed_many`, sources/coalesce.py): a step has a fixed cost, and
many small requests otherwise paid it each. Every request still gets its own counts.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from warroom.contract.decode import DecodedBatch
from warroom.runner import Runner
from warroom.sources import files

log = logging.getLogger("warroom.pipeline")
_STOP = object()
# Records the writer takes from its queue as one engine step (see sources/coalesce.py).
COALESCE_ROWS = 200_000


@dataclass
class IngestResult:
    batch: str
    records: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    late: int = 0
    reasons: list[dict[str, Any]] = field(default_factory=list)  # first quarantined lines


@dataclass
class _Job:
    batch: DecodedBatch
    source: str
    position: tuple[int, int] | None = None
    done: Future[IngestResult] | None = None
    batch_id: str = ""


class Pipeline:
    def __init__(
        self, runner: Runner, checkpoint_seconds: float = 2.0, group_commit_seconds: float = 0.2
    ) -> None:
        self.runner = runner
        self.checkpoint_seconds = checkpoint_seconds
        # requests arriving within this share one checkpoint (a checkpoint costs ~0.1-0.3 s)
        self.group_commit_seconds = min(group_commit_seconds, checkpoint_seconds)
        self.jobs: queue.Queue[Any] = queue.Queue(maxsize=256)
        self.last_step_wall = 0.0  # wall time of the last batch processed
        self.last_commit_wall = 0.0
        # seconds the last checkpoint took in the writer (waiting for the one before it,
        # building it) and to write in the background
        self._build_cost = self._write_cost = 0.0
        self._writer = threading.Thread(target=self._loop, name="warroom-writer", daemon=True)
        self._feeder: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self._writer.start()

    def stop(self) -> None:
        self._stopping.set()
        self.jobs.put(_STOP)
        self._writer.join(timeout=30)

    # -- sources ----------------------------------------------------------------
    def submit(self, body: bytes, source: str = "http") -> Future[IngestResult]:
        """Decode an NDJSON body here (the caller's thread) and queue it for the writer."""
        batch_id = uuid.uuid4().hex[:12]
        batch = self.runner.decoder.decode_ndjson(body, 1)
        done: Future[IngestResult] = Future()
        try:
            self.jobs.put(_Job(batch, f"{source}:{batch_id}", None, done, batch_id), timeout=30)
        except queue.Full as exc:
            raise TimeoutError("the engine's queue stayed full") from exc
        return done

    def follow_file(self, path: str, speed: float) -> None:
        """The demo: release a file's lines as their event time comes, `speed`x real time."""

        def feed() -> None:
            offset, line = self.runner.offset, self.runner.line
            for chunk in files.paced_chunks(path, speed, offset, line):
                if self._stopping.is_set():
                    return
                assert chunk.data is not None
                batch = self.runner.decoder.decode_ndjson(chunk.data, chunk.first_line)
                job = _Job(batch, path, (chunk.end_offset, chunk.end_line))
                while not self._stopping.is_set():
                    try:
                        self.jobs.put(job, timeout=0.5)
                        break
                    except queue.Full:
                        continue
            log.info("live source %s reached its end", path)

        self._feeder = threading.Thread(target=feed, name="warroom-feeder", daemon=True)
        self._feeder.start()

    # -- the writer ---------------------------------------------------------------
    def _loop(self) -> None:
        waiting: list[tuple[Future[IngestResult], IngestResult]] = []
        last_commit = time.monotonic()
        dirty = False
        stopping = False
        while not stopping:
            jobs, stopping = self._take()
            if jobs:
                dirty = True
                for job, result in zip(jobs, self._process(jobs), strict=True):
                    if job.done is None:
                        continue
                    if isinstance(result, BaseException):
                        _settle(job.done, error=result)
                    else:
                        waiting.append((job.done, result))
            since = time.monotonic() - last_commit
            # checkpoints take at most about a third of the time under load: each costs
            # CPU (a fixed part: the engine's state, the guards' journals) and one
            # written in the background still takes it from the writer (the GIL)
            gap = max(self.group_commit_seconds, 2 * (self._build_cost + self._write_cost))
            acks_due = waiting and self.jobs.empty() and since >= gap
            if dirty and (acks_due or since >= self.checkpoint_seconds):
                self._checkpoint(waiting)
                last_commit, dirty, waiting = time.monotonic(), False, []
        if dirty:
            self._checkpoint(waiting)
        self._landed()

    def _take(self) -> tuple[list[_Job], bool]:
        """The next job and every job already waiting behind it (up to `COALESCE_ROWS`
        records), to go through the engine as one step; True once told to stop."""
        try:
            first = self.jobs.get(timeout=0.05)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        jobs, rows = [first], first.batch.frame.height
        while rows < COALESCE_ROWS:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
            rows += job.batch.frame.height
        return jobs, False

    def _process(self, jobs: list[_Job]) -> list[IngestResult | BaseException]:
        try:
            outcomes = self.runner.feed_many([(j.batch, j.source) for j in jobs], jobs[-1].position)
        except Exception as exc:  # a bug must not stop the writer; the callers get a 500
            log.exception("batches %s failed", [j.source for j in jobs])
            return [exc] * len(jobs)
        self.last_step_wall = time.time()
        return [
            IngestResult(
                batch=job.batch_id,
                records=o.records,
                accepted=o.accepted,
                quarantined=o.quarantined,
                duplicates=o.duplicates,
                late=o.late,
                reasons=[{"line": q.line, "reason": q.reason} for q in job.batch.quarantined[:20]],
            )
            for job, o in zip(jobs, outcomes, strict=True)
        ]

    def _checkpoint(self, waiting: list[tuple[Future[IngestResult], IngestResult]]) -> None:
        """Start a checkpoint, written in the background while the writer goes on; its
        requests are answered once it has landed (with its error if it failed)."""
        started = time.monotonic()
        self._landed()  # the one before it: a checkpoint is built once that one landed
        try:
            landed = self.runner.checkpoint(complete=False, background=True)
        except Exception as exc:  # building it failed: its records stay pending
            log.exception("checkpoint failed")
            for done, result in waiting:
                _settle(done, result, exc)
            return
        built = time.monotonic()
        self._build_cost = built - started

        def answer(f: Future[None]) -> None:  # in the checkpoint thread, once landed
            error = f.exception()
            self._write_cost = time.monotonic() - built
            if error is None:
                self.last_commit_wall = time.time()
            for done, result in waiting:
                _settle(done, result, error)

        landed.add_done_callback(answer)

    def _landed(self) -> None:
        """Wait for the checkpoint being written. One that failed is logged (its requests
        had its error) and what it held goes into the next."""
        try:
            self.runner.wait_for_writes()
        except Exception:
            log.exception("checkpoint failed; the next one writes what it held")


def _settle(
    done: Future[IngestResult],
    result: IngestResult | None = None,
    error: BaseException | None = None,
) -> None:
    """Answer a waiting request; one whose client went away (cancelled) needs no answer,
    and must not stop the writer."""
    if done.cancelled() or done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)  # type: ignore[arg-type]
