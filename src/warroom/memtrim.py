"""How glibc's heap gives freed memory back to the kernel: at once (a server), or not
until the end (a replay).

Batches' numpy columns and the engine's per-batch tables are freed in another order
than they were made, so glibc's heap keeps free holes that still count in RSS.
`malloc_trim(0)` returns the free pages of every hole (not only the heap's top). The
server's runner calls it after each checkpoint: its RSS stays near what it holds.

A replay (`warroom run`) keeps them instead (`keep_freed_memory`): every page handed
back was faulted in again, and zeroed by the kernel, by the next batches. 10 M events
from NDJSON: 885 k -> 561 k page faults, 10.5 -> 9.5 s, peak 1,216 -> 1,295 MiB
(docs/benchmarks.md, session 12). Elsewhere than glibc both do nothing.

Polars allocates with its own jemalloc, whose options `warroom/__init__.py` sets: freed
pages go back to the kernel after 0.1 s, for the peak of a replay from Arrow. A replay
from NDJSON keeps them for polars' own default times instead
(`keep_polars_freed_memory`); its next batches faulted them in again (session 14, 10 M
events: 607-709 k -> 440-500 k page faults, 11.2-14.5 -> 11.0-13.0 s, peak 1,283-1,335 ->
1,321-1,352 MiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The largest block served from the heap (the ceiling of glibc's own sliding threshold);
# larger ones are mapped and unmapped by themselves.
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top kept up to this


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    # glibc's own functions: another C library has neither
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def release_free_memory() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_freed_memory() -> None:
    """Freed blocks up to 32 MiB stay in the heap for reuse, and its free top is kept.
    (glibc otherwise maps larger blocks on their own and unmaps them when freed.)"""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


# jemalloc reads its options once, when polars' library is loaded: after polars is
# imported, setting this changes nothing.
POLARS_MALLOC_CONF = "_RJEM_MALLOC_CONF"
KEEP_POLARS_FREED = "dirty_decay_ms:500,muzzy_decay_ms:1000"  # polars' own default


def keep_polars_freed_memory() -> bool:
    """Polars' allocator keeps freed pages for reuse 0.5 s, then 1 s more as reclaimable,
    instead of 0.1 s. Before polars is imported; False (nothing done) if it was, or if
    the user set the allocator's options (theirs win)."""
    import warroom

    if "polars" in sys.modules or warroom.USER_MALLOC_CONF:
        return False
    os.environ[POLARS_MALLOC_CONF] = KEEP_POLARS_FREED
    return True
