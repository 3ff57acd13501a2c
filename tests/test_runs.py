"""The sorted-run index against a plain dict: any sequence of batches, any repeats."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.engine.runs import SortedRuns

batches = st.lists(
    st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=30),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    batches=batches,
    keep=st.sampled_from(["first", "last"]),
    max_run=st.sampled_from([1, 4, 16, 1 << 21]),  # runs that stop growing, or never do
)
def test_lookup_matches_a_dict_of_first_or_last_insertions(
    batches: list[list[int]], keep: str, max_run: int
) -> None:
    index = SortedRuns(expire_col="ts", keep=keep, max_run=max_run)
    reference: dict[int, int] = {}
    seq = 0
    for batch in batches:
        keys = np.asarray(batch, dtype=np.uint64)
        seqs = np.arange(seq, seq + len(batch), dtype=np.int64)
        seq += len(batch)
        index.add(keys, {"ts": seqs})
        for k, s in zip(batch, seqs.tolist(), strict=True):
            if keep == "last" or k not in reference:
                reference[k] = s
        probe = np.arange(0, 45, dtype=np.uint64)
        found, payload = index.lookup(probe)
        for k, hit in zip(probe.tolist(), found.tolist(), strict=True):
            assert hit == (k in reference)
            if hit:
                assert payload["ts"][k] == reference[k]
    assert all(np.all(np.diff(r.keys.astype(np.float64)) > 0) for r in index.runs)


def test_eviction_forgets_entries_older_than_the_horizon() -> None:
    index = SortedRuns(expire_col="ts", keep="last")
    index.add(np.arange(100, dtype=np.uint64), {"ts": np.full(100, 10, dtype=np.int64)})
    index.add(np.arange(100, 110, dtype=np.uint64), {"ts": np.full(10, 50, dtype=np.int64)})
    index.evict(before=20)
    found, _ = index.lookup(np.asarray([5, 105], dtype=np.uint64))
    assert found.tolist() == [False, True]
