from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine.config import EngineConfig
from warroom.engine.engine import Engine
from warroom.engine.native import new_engine

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract"
RATES_DOC = {
    "base": "CNY",
    "rates": {"CNY": 1, "USD": 7.1556, "JPY": 0.046582, "EUR": 7.7213},
    "minor_digits": {"JPY": 0},
}


@pytest.fixture
def rates() -> RatesTable:
    return RatesTable.parse(json.dumps(RATES_DOC))


@pytest.fixture
def rates_file(tmp_path: Path) -> Path:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps(RATES_DOC))
    return path


def run_engine(
    lines: list[bytes],
    rates: RatesTable,
    cuts: list[int] | None = None,
    config: EngineConfig | None = None,
) -> tuple[Engine, pl.DataFrame]:
    """Feed `lines` to a fresh engine in batches cut at `cuts`; return labelled 1s cells.
    The engine is the native one unless WARROOM_NATIVE=0 (see `both_engines`)."""
    decoder, engine = Decoder(rates), new_engine(config or EngineConfig(lateness_ms=2_000))
    bounds = [0, *sorted(set(c for c in (cuts or []) if 0 < c < len(lines))), len(lines)]
    steps = []
    for a, b in itertools.pairwise(bounds):
        batch = decoder.decode_ndjson(b"\n".join(lines[a:b]) + b"\n", a + 1)
        steps.append(engine.process(batch))
    steps.append(engine.flush())
    cells = [s.cells[1000] for s in steps if 1000 in s.cells and s.cells[1000].height]
    out = engine.label(pl.concat(cells)) if cells else pl.DataFrame()
    return engine, out


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright, one per test module (the page tests)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from warroom.browser import CHROMIUM, HEADLESS_ARGS

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=list(HEADLESS_ARGS))
        yield b
        b.close()


@pytest.fixture(scope="module", params=["native", "reference"])
def both_engines(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests on the native engine and on the numpy/polars reference.
    Module-scoped: Hypothesis refuses function-scoped fixtures in its tests."""
    from warroom.engine import native

    if request.param == "native" and not native.available():
        pytest.skip("the native engine core is not built")
    before = os.environ.get("WARROOM_NATIVE")
    os.environ["WARROOM_NATIVE"] = "1" if request.param == "native" else "0"
    yield request.param
    if before is None:
        os.environ.pop("WARROOM_NATIVE", None)
    else:
        os.environ["WARROOM_NATIVE"] = before
