"""What `warroom serve` and `warroom demo` are started with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServeSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8011
    open_role: str | None = None  # role of requests without a token (the local demo: viewer)
    # One stream frame per client per tick. A quarter second: an event shows on the wall
    # within ~0.6 s (p99 at 100,000 records/s offered) instead of ~1.3 s at 1 s; the
    # server's ingest rate moved within the noise (docs/benchmarks.md).
    tick_seconds: float = 0.25
    stale_after_seconds: float = 10.0  # no new figures for this long: the wall says so
    max_body_bytes: int = 16 << 20
    ingest_records_per_second: float = 2_000_000.0  # per token; burst of one second
    checkpoint_seconds: float = 2.0
    frames_kept: int = 300  # stream frames kept for Last-Event-ID replay
    # the demo's live source: a simulated file replayed at `speed`
    events: str | None = None
    rates: Path | None = None
    catalog: Path | None = None
    speed: float = 10.0
    # the watch's routes, receivers and inhibit rules (alerts/config.py); None: the book
    # and the wall only, no notifications
    alerts_config: Path | None = None
    # worry-free refunds: the decider's policy (YAML); None: the shipped default
    refund_policy: Path | None = None
