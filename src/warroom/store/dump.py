"""A canonical text dump of everything a run produced, for byte-for-byte comparison."""

from __future__ import annotations

import hashlib

import polars as pl

from warroom.engine.cube import KEY_COLS
from warroom.store.db import Store


def dump(store: Store) -> bytes:
    parts: list[bytes] = []
    for period in (1_000, 60_000, 3_600_000):
        cells = store.cells(period)
        if cells.height:
            cells = cells.sort(list(KEY_COLS))
            parts.append(f"# cells {period}\n".encode() + cells.write_csv().encode())
    q = pl.DataFrame(list(store.quarantined())) if any(True for _ in store.quarantined()) else None
    if q is not None:
        parts.append(b"# quarantine\n" + q.with_columns(pl.col("raw").hash()).write_csv().encode())
    late = list(store.late_records())
    if late:
        parts.append(b"# late\n" + pl.DataFrame(late).write_csv().encode())
    return b"".join(parts)


def digest(store: Store) -> str:
    return hashlib.sha256(dump(store)).hexdigest()
