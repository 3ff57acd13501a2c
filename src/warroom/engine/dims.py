"""The cube's dimensions and their dictionaries (string <-> stable integer code)."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

DIMS: Final = ("region", "country", "channel", "category", "method", "campaign", "merchant")
# Dimensions an order carries to its payments, refunds and shipments (Attribution).
ORDER_DIMS: Final = ("region", "country", "channel", "category", "campaign", "merchant")
UNKNOWN: Final = "unknown"  # code 0 in every dictionary


class Dictionary:
    """Codes in order of first appearance; persisted with the engine state."""

    def __init__(self, values: list[str] | None = None) -> None:
        self.values: list[str] = values or [UNKNOWN]
        self.codes: dict[str, int] = {v: i for i, v in enumerate(self.values)}

    def encode(self, column: pl.Series) -> np.ndarray:
        """Codes for a string column; null means unknown (0)."""
        uniq = column.drop_nulls().unique(maintain_order=True).to_list()
        for value in uniq:
            if value not in self.codes:
                self.codes[value] = len(self.values)
                self.values.append(value)
        mapping = {v: self.codes[v] for v in uniq}
        if not mapping:
            return np.zeros(len(column), dtype=np.int32)
        coded = column.replace_strict(mapping, default=0, return_dtype=pl.Int32)
        return coded.fill_null(0).to_numpy()

    def decode(self, codes: pl.Series) -> pl.Series:
        lookup = pl.Series(self.values, dtype=pl.String)
        return lookup.gather(codes.cast(pl.UInt32))
