"""The rates table and the one conversion rule of EVENTS.md.

A rate is read as an exact decimal and kept as an integer numerator over a power of
ten, so that converting integer minor units stays in integer arithmetic:
base_minor = round_half_even(value_minor * num * 10**base_digits / 10**(digits + scale)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import iso4217

from warroom.contract.rules import CURRENCY_PATTERN
from warroom.errors import ContractError

DEFAULT_RATES = {"base": "CNY", "rates": {"CNY": "1"}}


def iso_digits(code: str) -> int | None:
    """ISO 4217 minor digits, or None for a code ISO does not know."""
    try:
        return int(iso4217.Currency(code).exponent or 0)
    except ValueError:
        return None


@dataclass(frozen=True)
class Rate:
    num: int  # rate = num / 10**scale, exactly
    scale: int
    digits: int  # minor digits of the currency


@dataclass(frozen=True)
class RatesTable:
    base: str
    rates: dict[str, Rate] = field(default_factory=dict)
    source_text: str = ""  # recorded with the run so a figure can be re-derived

    @property
    def base_digits(self) -> int:
        return self.rates[self.base].digits

    @property
    def minor_digits(self) -> dict[str, int]:
        return {code: r.digits for code, r in self.rates.items()}

    def digits(self, code: str) -> int | None:
        rate = self.rates.get(code)
        return None if rate is None else rate.digits

    def to_base_minor(self, value_minor: int, code: str) -> int:
        """Convert an exact value in `code`'s minor units to base minor units (half-even)."""
        r = self.rates[code]
        num = value_minor * r.num * 10**self.base_digits
        den = 10 ** (r.digits + r.scale)
        return round_half_even(num, den)

    @classmethod
    def parse(cls, text: str, origin: str = "rates") -> RatesTable:
        try:
            doc = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{origin}: not valid JSON ({exc.msg})") from exc
        if not isinstance(doc, dict):
            raise ContractError(f"{origin}: must be a JSON object")
        base = doc.get("base", "CNY")
        raw_rates = doc.get("rates")
        overrides = doc.get("minor_digits", {}) or {}
        if not isinstance(base, str) or not _is_code(base):
            raise ContractError(f"{origin}: base must be a three-letter currency code")
        if not isinstance(raw_rates, dict) or not raw_rates:
            raise ContractError(f"{origin}: rates must be a non-empty object of code -> rate")
        if not isinstance(overrides, dict):
            raise ContractError(f"{origin}: minor_digits must be an object of code -> digits")
        rates: dict[str, Rate] = {}
        for code, value in raw_rates.items():
            rates[code] = _rate(origin, code, value, overrides.get(code))
        if base not in rates:
            rates[base] = _rate(origin, base, Decimal(1), overrides.get(base))
        if rates[base].num != 10 ** rates[base].scale:
            raise ContractError(f"{origin}: rates.{base} must be 1 (it is the base currency)")
        return cls(base=base, rates=rates, source_text=text)

    @classmethod
    def load(cls, path: Path | None) -> RatesTable:
        if path is None:
            return cls.parse(json.dumps(DEFAULT_RATES), "default rates")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ContractError(f"{path}: cannot read the rates table ({exc.strerror})") from exc
        return cls.parse(text, str(path))


def _is_code(code: object) -> bool:
    import re

    return isinstance(code, str) and re.fullmatch(CURRENCY_PATTERN[1:-1], code) is not None


def _rate(origin: str, code: str, value: object, digits_override: object) -> Rate:
    if not _is_code(code):
        raise ContractError(f"{origin}: rates key {code!r} must be a three-letter currency code")
    try:
        dec = Decimal(str(value))
    except InvalidOperation as exc:
        raise ContractError(f"{origin}: rates.{code} must be a decimal number") from exc
    if not dec.is_finite() or dec <= 0:
        raise ContractError(f"{origin}: rates.{code} must be a positive number")
    if digits_override is not None:
        if not isinstance(digits_override, Decimal) or digits_override != int(digits_override):
            raise ContractError(f"{origin}: minor_digits.{code} must be an integer")
        digits = int(digits_override)
        if not 0 <= digits <= 4:
            raise ContractError(f"{origin}: minor_digits.{code} must be between 0 and 4")
    else:
        iso = iso_digits(code)
        if iso is None:
            raise ContractError(f"{origin}: {code} is not an ISO 4217 code; give its minor_digits")
        digits = iso
    exponent = dec.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    num = int(dec.scaleb(scale))
    return Rate(num=num, scale=scale, digits=digits)


def round_half_even(num: int, den: int) -> int:
    """num / den rounded half to even, for integers (den > 0)."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q
