"""warroom: the command center for the peak-sale day of an online marketplace."""

import os

# Polars' allocator (jemalloc) kept freed pages 0.5 s dirty, then 1 s "muzzy", before
# handing them back: decoding an Arrow chunk frees its intermediates all at once, and
# they stayed in RSS beside the next chunk's. Handed back after 0.1 s, the 10 M-event
# replay from Arrow peaked 30-90 MiB lower (docs/benchmarks.md, session 10). Polars
# reads this when it is first imported, so it is set first; a value the user sets wins.
# (`warroom run` from NDJSON keeps them longer: memtrim.keep_polars_freed_memory.)
USER_MALLOC_CONF = "_RJEM_MALLOC_CONF" in os.environ
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")
# numpy's OpenBLAS starts a thread per core that spins for a while once loaded: 20 % of
# the samples of `import warroom.runner` and 0.1 CPU-s of each replay, on the core the
# decoder needs. warroom does no linear algebra big enough to gain from them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
