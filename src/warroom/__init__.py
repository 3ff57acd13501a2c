"""warroom: the command center for the peak-sale day of an online marketplace."""

import os

# polars allocates through jemalloc, whose defaults (dirty_decay_ms 10 s, muzzy 0) give
# freed pages back to the OS soon after, so each batch faults them in again. Keeping
# them 5 s as "muzzy" (reusable) halves the page faults of a replay and saves ~10 % of
# its CPU, for ~50 MB more RSS (measured, docs/benchmarks.md). jemalloc reads this once,
# at polars' first allocation: it must be set before polars is imported.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")

__version__ = "0.1.0"
