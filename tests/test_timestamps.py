"""`parse_ts_column` reads a column as the `parse_ts` expression reads each value: the
digits are cast at once, and only the rest go through the RFC 3339 parser."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.contract.timestamps import parse_ts, parse_ts_column

_STAMPS = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=10**19).map(str),  # 20 digits are not epoch ms
    st.sampled_from(
        [
            "2026-11-10T23:59:42.262+08:00",
            "2026-11-10 23:59:42Z",
            "2026-11-10t23:59:42.1z",
            "2026-02-30T00:00:00Z",  # no such day
            "2026-11-10T23:59:42",  # no offset
            "-5",
            "+7",
            " 12",
            "",
            "0012",
        ]
    ),
    st.text(max_size=12),
)


def _expected(values: list[str | None]) -> list[int | None]:
    frame = pl.DataFrame({"ts": values}, schema={"ts": pl.String})
    return frame.select(parse_ts(pl.col("ts"))).to_series().to_list()


@settings(max_examples=300, deadline=None)
@given(st.lists(_STAMPS, max_size=40))
def test_a_column_reads_as_each_value_does(values: list[str | None]) -> None:
    got = parse_ts_column(pl.Series("ts", values, dtype=pl.String))
    assert got.dtype == pl.Int64
    assert got.to_list() == _expected(values)


def test_digits_and_rfc3339_mixed() -> None:
    values = ["1794326379076", "1970-01-01T00:00:01.5Z", None, "x", "1000"]
    got = parse_ts_column(pl.Series("ts", values, dtype=pl.String)).to_list()
    assert got == [1794326379076, 1500, None, None, 1000]
