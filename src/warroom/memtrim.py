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
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
