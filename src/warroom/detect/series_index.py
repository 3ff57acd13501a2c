"""The series of the cube: one index per (grouping set, key1, key2), grown as slices
appear, with each series' scope (dimension -> value)."""

from __future__ import annotations

import numpy as np
import polars as pl

from warroom.detect.rootcause import Scope
from warroom.engine.cube import GSETS
from warroom.engine.dims import UNKNOWN


class SeriesIndex:
    def __init__(self) -> None:
        self.known = pl.DataFrame(
            schema={"gset": pl.Int64, "k1": pl.String, "k2": pl.String, "idx": pl.Int64}
        )
        self.scopes: list[Scope] = []
        self.gset: list[int] = []
        self.unknown = np.zeros(0, dtype=bool)  # a slice of `unknown` attribution

    def __len__(self) -> int:
        return len(self.scopes)

    def index(self, cells: pl.DataFrame) -> np.ndarray:
        """Series index of each row of labelled cells (gset, k1, k2); new ones added."""
        keys = cells.select(pl.col("gset").cast(pl.Int64), "k1", "k2")
        joined = keys.join(self.known, on=["gset", "k1", "k2"], how="left", maintain_order="left")
        missing = (
            joined.filter(pl.col("idx").is_null())
            .select("gset", "k1", "k2")
            .unique(maintain_order=True)
        )
        if missing.height:
            start = len(self.scopes)
            new = missing.with_columns(
                idx=pl.int_range(start, start + missing.height, dtype=pl.Int64)
            )
            self.known = pl.concat([self.known, new])
            flags = []
            for g, k1, k2 in missing.iter_rows():
                dims = GSETS[g]
                pairs = dict(zip(dims, (k1, k2)[: len(dims)], strict=True))
                if "region" in pairs and "country" not in pairs and pairs["region"] != UNKNOWN:
                    pairs["country"] = pairs["region"][:2]  # a region lies in its country
                scope = frozenset(pairs.items())
                self.scopes.append(scope)
                self.gset.append(g)
                flags.append(any(v == UNKNOWN for _, v in scope))
            self.unknown = np.concatenate([self.unknown, np.array(flags, dtype=bool)])
            joined = keys.join(
                self.known, on=["gset", "k1", "k2"], how="left", maintain_order="left"
            )
        return joined["idx"].to_numpy()

    def scope_dict(self, i: int) -> dict[str, str]:
        """In the grouping set's order, e.g. {"region": "US-CA", "method": "card"}."""
        d = dict(self.scopes[i])
        return {k: d[k] for k in GSETS[self.gset[i]]}
