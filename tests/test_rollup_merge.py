"""The core's rollup merge (src/native/rollup_merge.hpp) against rollup.polars_merge,
the reference: the same summed cells, merged registers and estimated buyers, for any
parts, and bad parts refused with a clear error."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.engine import hll, native
from warroom.engine.cube import KEY_COLS, METRIC_COLS
from warroom.engine.rollup import polars_merge

pytestmark = pytest.mark.skipif(not native.available(), reason="native engine core not built")
KEYS = list(KEY_COLS)


def _cells(rng: np.random.Generator, n: int, keys: int) -> pl.DataFrame:
    pick = rng.integers(0, keys, n)
    frame = {
        "win": (pick % 3) * 60_000,
        "gset": (pick % 5).astype(np.uint8),
        "k1": (pick // 15).astype(np.int32),
        "k2": (pick % 2).astype(np.int32),
    }
    metrics = {c: rng.integers(0, 1_000_000, n) for c in METRIC_COLS}
    return pl.DataFrame({**frame, **metrics}).cast(
        {"gset": pl.UInt8, "k1": pl.Int32, "k2": pl.Int32}
    )


def _sketch(rng: np.random.Generator, n: int, keys: int, regs: int) -> pl.DataFrame:
    pick = rng.integers(0, keys, n)
    return pl.DataFrame(
        {
            "win": (pick % 3) * 60_000,
            "gset": (pick % 5).astype(np.uint8),
            "k1": (pick // 15).astype(np.int32),
            "k2": (pick % 2).astype(np.int32),
            "reg": rng.integers(0, regs, n).astype(np.uint16),
            # ranks as hll.registers makes them: 1..53, mostly small
            "rank": np.minimum(rng.geometric(0.5, n), 53).astype(np.int16),
        }
    )


def _sorted(frame: pl.DataFrame | None, by: list[str]) -> pl.DataFrame | None:
    return None if frame is None else frame.sort(by)


def _both(cells, sketches, estimate, keep):  # type: ignore[no-untyped-def]
    ref = polars_merge(list(cells), list(sketches), estimate, keep)
    got = native._merge_parts(list(cells), list(sketches), estimate, keep)
    return ref, got


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    parts=st.integers(1, 4),
    rows=st.integers(0, 400),
    keys=st.integers(1, 120),
    regs=st.sampled_from([4, 64, 4096]),
    estimate=st.booleans(),
    keep=st.booleans(),
)
def test_the_core_merges_as_polars_does(
    seed: int, parts: int, rows: int, keys: int, regs: int, estimate: bool, keep: bool
) -> None:
    rng = np.random.default_rng(seed)
    cells = [_cells(rng, int(rng.integers(0, rows + 1)), keys) for _ in range(parts)]
    # registers of more keys than have cells: those make no cell
    sketches = [
        _sketch(rng, int(rng.integers(0, 8 * rows + 1)), keys + 7, regs) for _ in range(parts)
    ]
    (ref_cells, ref_regs), (got_cells, got_regs) = _both(cells, sketches, estimate, keep)
    assert got_cells.schema == ref_cells.schema
    assert _sorted(got_cells, KEYS).equals(_sorted(ref_cells, KEYS))
    if keep:
        assert got_regs is not None and ref_regs is not None
        assert got_regs.schema == ref_regs.select(got_regs.columns).schema
        by = [*KEYS, "reg"]
        assert _sorted(got_regs, by).equals(_sorted(ref_regs.select(got_regs.columns), by))
    else:
        assert got_regs is None and ref_regs is None


def test_a_full_sketch_estimates_as_polars_does() -> None:
    """Every register present (no linear counting), and the largest ranks."""
    rng = np.random.default_rng(3)
    sketch = pl.DataFrame(
        {
            "win": np.zeros(4096, np.int64),
            "gset": np.zeros(4096, np.uint8),
            "k1": np.zeros(4096, np.int32),
            "k2": np.zeros(4096, np.int32),
            "reg": np.arange(4096, dtype=np.uint16),
            "rank": rng.integers(1, 54, 4096).astype(np.int16),
        }
    )
    zero = {"win": pl.Int64, "gset": pl.UInt8, "k1": pl.Int32, "k2": pl.Int32}
    cells = _cells(rng, 1, 1).with_columns(**{c: pl.lit(0, t) for c, t in zero.items()})
    (ref, _), (got, _) = _both([cells], [sketch], True, False)
    assert got["buyers"].to_list() == ref["buyers"].to_list()
    assert got["buyers"][0] == hll.estimate(sketch, KEYS)["buyers"][0] > 4096


def test_a_bad_rank_is_refused_by_name() -> None:
    rng = np.random.default_rng(5)
    sketch = _sketch(rng, 10, 3, 64).with_columns(rank=pl.lit(65, pl.Int16))
    with pytest.raises(ValueError, match=r"rank outside 0\.\.64"):
        native._merge_parts([_cells(rng, 5, 3)], [sketch], True, True)


def test_parts_of_other_dtypes_are_cast() -> None:
    """Keys of a wider dtype (a part read back from an older store, say) merge the same."""
    rng = np.random.default_rng(9)
    cells = _cells(rng, 50, 10)
    sketch = _sketch(rng, 300, 10, 4096)
    wide = [cells.cast({"gset": pl.Int64, "k1": pl.Int64})]
    (ref, _), (got, _) = _both([cells], [sketch], True, False)
    got_wide, _ = native._merge_parts(wide, [sketch], True, False)
    assert _sorted(got_wide, KEYS).equals(_sorted(ref, KEYS))
    assert _sorted(got, KEYS).equals(_sorted(ref, KEYS))
