"""Python's cyclic garbage collector, tuned for a process that holds the day.

The refund guard keeps a small dict or object per buyer, order, device and address, and
the collector's default first threshold (700 new containers) ran a collection every
few dozen orders, each walking its generation: 45 % of the guard's time per order
(17.7 µs -> 9.5 µs with the collector off; 10.5 µs with these thresholds). Cycles are
still collected, only in larger steps.

A long-running command's imports (polars, SQLAlchemy, the engine: ~0.3 s) make tens of
thousands of containers and no garbage, and the default thresholds walked them again and
again: `hold_for_imports` before them and `tune_for_streaming` after took ~58 ms off
`warroom run`'s start (`import warroom.cli, warroom.runner`, median of 15 processes,
0.672 -> 0.614 s, session 13).
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def hold_for_imports() -> None:
    """No collection until `tune_for_streaming`: for a command's imports."""
    gc.disable()


def tune_for_streaming() -> None:
    """For the long-running commands (`run`, `serve`, `demo`); the collector on."""
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
