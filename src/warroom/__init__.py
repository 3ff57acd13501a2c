"""warroom: the command center for the peak-sale day of an online marketplace."""

import os

# Allocators, set before polars and pyarrow are first imported (each reads its setting
# then); a value the user sets wins. Both kept freed memory in RSS beside the next
# batch's (docs/benchmarks.md, session 10, for the 10 M-event replay from Arrow):
# - polars' jemalloc kept freed pages 0.5 s dirty, then 1 s "muzzy": decoding an Arrow
#   chunk frees its intermediates all at once. Handed back after 0.1 s: 30-90 MiB lower.
# - pyarrow's mimalloc kept the record batches read from an Arrow file (90 MB each) for
#   reuse; glibc's malloc unmaps them: 30-70 MiB lower (and up to 140 MiB in single
#   runs), for ~7 % more time on that replay.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
