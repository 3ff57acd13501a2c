"""Where a replay's time goes: decode, engine and labelling, one after the other.

`python -m warroom.bench_stages DIR [--batch-bytes N]` replays DIR/events.ndjson (with
DIR/rates.json and DIR/catalog.ndjson, as `warroom simulate` writes them) in one
thread, without a store, and prints each stage's seconds. `warroom run` overlaps
decoding with the engine in a second thread and adds checkpoints; this attributes the
work. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine.native import new_engine
from warroom.runner import load_catalog_categories
from warroom.sources import files


def stages(day: Path, batch_bytes: int = files.DEFAULT_BATCH_BYTES) -> tuple[int, Counter[str]]:
    rates = day / "rates.json"
    decoder = Decoder(RatesTable.load(rates if rates.exists() else None))
    engine = new_engine()
    if (day / "catalog.ndjson").exists():
        engine.set_catalog(load_catalog_categories(day / "catalog.ndjson"))
    spent: Counter[str] = Counter()
    records = 0
    for chunk in files.ndjson_chunks(str(day / "events.ndjson"), 0, 0, batch_bytes):
        assert chunk.data is not None
        t0 = time.perf_counter()
        batch = decoder.decode_ndjson(chunk.data, chunk.first_line)
        t1 = time.perf_counter()
        step = engine.process(batch)
        t2 = time.perf_counter()
        for cells in step.cells.values():
            engine.label(cells)  # what a checkpoint does before writing cells
        t3 = time.perf_counter()
        spent["decode"] += t1 - t0
        spent["engine"] += t2 - t1
        spent["label"] += t3 - t2
        records += batch.records
    t0 = time.perf_counter()
    engine.flush()
    spent["flush"] += time.perf_counter() - t0
    return records, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", type=Path, help="a directory written by `warroom simulate`")
    parser.add_argument("--batch-bytes", type=int, default=files.DEFAULT_BATCH_BYTES)
    args = parser.parse_args()
    started, cpu = time.perf_counter(), time.process_time()
    records, spent = stages(args.day, args.batch_bytes)
    wall = time.perf_counter() - started
    print(f"{records:,} records in {wall:.2f} s ({records / wall:,.0f}/s), ", end="")
    print(f"{time.process_time() - cpu:.2f} CPU-s")
    for stage, seconds in spent.most_common():
        print(f"  {stage:8s} {seconds:6.2f} s  {1e6 * seconds / max(records, 1):5.2f} us/record")


if __name__ == "__main__":
    main()
