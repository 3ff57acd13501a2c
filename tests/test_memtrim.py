"""glibc's freed memory: handed back at once by default, kept by `keep_freed_memory`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from warroom import memtrim

# Allocates 16 MiB with malloc, touches it, frees it; prints the RSS (KiB) it kept.
_PROBE = """
import ctypes, sys
from warroom import memtrim
if sys.argv[1] == "keep":
    memtrim.keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4
before = rss()
block = libc.malloc(16 << 20)
ctypes.memset(block, 1, 16 << 20)
libc.free(block)
print(rss() - before)
"""


@pytest.mark.skipif(memtrim._libc() is None, reason="not glibc")
def test_freed_blocks_stay_for_reuse_only_when_kept() -> None:
    def kept_kib(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout)

    assert kept_kib("default") < 4 << 10  # a block this size was mapped, then unmapped
    assert kept_kib("keep") >= 15 << 10  # in the heap, and the heap's top not trimmed
