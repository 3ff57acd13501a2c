"""Exact money, vectorised: JSON numbers to integer minor units, then to the base currency.

A JSON number with at most d decimals parses to the double nearest that decimal. So
k = rint(x * 10**d) is its value in minor units, and k / 10**d == x holds exactly
(IEEE division is correctly rounded) if and only if the literal had at most d
decimals — the check needs no string handling. Valid for |k| < 2**53.
"""

from __future__ import annotations

import numpy as np

from warroom.contract.rates import RatesTable, round_half_even

EXACT_LIMIT = float(2**53)
_I64_SAFE = 9.0e18


def to_minor(x: np.ndarray, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(minor units as int64, mask of values that fit the digits exactly)."""
    scale = np.power(10.0, digits)
    k = np.rint(x * scale)
    ok = (k / scale == x) & (np.abs(k) < EXACT_LIMIT)
    return np.where(ok, k, 0).astype(np.int64), ok


def to_base(
    value_minor: np.ndarray, currency: np.ndarray, codes: list[str], rates: RatesTable
) -> np.ndarray:
    """Each value (minor units of its own currency) in base minor units, half-even.
    `currency` holds indexes into `codes` (integers compare far faster than strings)."""
    out = np.zeros(len(value_minor), dtype=np.int64)
    bd = rates.base_digits
    for code in np.unique(currency):
        rate = rates.rates[codes[int(code)]]
        idx = np.flatnonzero(currency == code)
        v = value_minor[idx]
        mul = rate.num * 10**bd
        den = 10 ** (rate.digits + rate.scale)
        if den == 1 or mul % den == 0:
            out[idx] = v * (mul // den)
            continue
        safe = np.abs(v.astype(np.float64)) * mul < _I64_SAFE
        n = v[safe] * mul
        q, r = np.divmod(n, den)
        twice = 2 * r
        q += (twice > den) | ((twice == den) & (q % 2 == 1))
        out[idx[safe]] = q
        for i in idx[~safe]:  # values large enough to overflow int64: exact Python ints
            out[i] = round_half_even(int(value_minor[i]) * mul, den)
    return out
