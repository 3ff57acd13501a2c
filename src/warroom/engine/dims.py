"""The cube's dimensions and their dictionaries (string <-> stable integer code)."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

# `currency` is the record's own currency (a payment's or refund's, not its order's):
# the per-currency money views, never watched (it moves with country).
DIMS: Final = (
    "region",
    "country",
    "channel",
    "category",
    "method",
    "campaign",
    "merchant",
    "currency",
)
# Dimensions an order carries to its payments, refunds and shipments (Attribution).
ORDER_DIMS: Final = ("region", "country", "channel", "category", "campaign", "merchant")
UNKNOWN: Final = "unknown"  # code 0 in every dictionary


class Dictionary:
    """Codes in order of first appearance; persisted with the engine state."""

    def __init__(self, values: list[str] | None = None) -> None:
        self.values: list[str] = values or [UNKNOWN]
        self.codes: dict[str, int] = {v: i for i, v in enumerate(self.values)}
        self._old: pl.Series | None = None  # values and codes as Series, for replace
        self._new: pl.Series | None = None

    def encode(self, column: pl.Series) -> np.ndarray:
        """Codes for a string column; null means unknown (0)."""
        if column.null_count() == len(column):
            return np.zeros(len(column), dtype=np.int32)
        fresh = [
            v
            for v in column.drop_nulls().unique(maintain_order=True).to_list()
            if v not in self.codes
        ]
        for value in fresh:
            self.codes[value] = len(self.values)
            self.values.append(value)
        if fresh or self._old is None:
            self._old = pl.Series(self.values, dtype=pl.String)
            self._new = pl.Series(range(len(self.values)), dtype=pl.Int32)
        coded = column.replace_strict(self._old, self._new, default=0, return_dtype=pl.Int32)
        return coded.fill_null(0).to_numpy()

    def decode(self, codes: pl.Series) -> pl.Series:
        lookup = pl.Series(self.values, dtype=pl.String)
        return lookup.gather(codes.cast(pl.UInt32))
