"""The server's order index thread: what it promises the checkpoint and the queries."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from eventgen import stream
from warroom.command.order_index import CACHE_KIB, BackgroundOrderIndex
from warroom.command.orders import KIND_ORDER, KIND_SHIPMENT, Scope, SqlOrderSource
from warroom.command.tables import create, order_lines_t
from warroom.store.db import ORDERS_SCHEMA, Store


def records(first: int, n: int, *, shipped: int = 0) -> pl.DataFrame:
    """`n` order lines (ids first..first+n-1) and shipments of the first `shipped`."""
    ids = range(first, first + n)
    lines = pl.DataFrame(
        {
            "kind": [KIND_ORDER] * n,
            "id": [f"ol-{i}" for i in ids],
            "order_id": [f"o-{i}" for i in ids],
            "merchant_id": [f"m-{i % 3}" for i in ids],
            "sku_id": ['s-ü "quoted"'] * n,  # JSON escapes survive the trip through SQLite
            "region": ["CN-ZJ"] * n,
            "campaign": [None] * n,
            "ts": [1_000 + i for i in ids],
            "status": [None] * n,
        },
        schema_overrides={"kind": pl.Int8, "campaign": pl.String, "status": pl.String},
    )
    ships = lines.head(shipped).with_columns(
        kind=pl.lit(KIND_SHIPMENT, pl.Int8),
        id=pl.lit("sh-") + pl.col("order_id"),
        status=pl.lit("shipped"),
    )
    return pl.concat([lines, ships])


@pytest.fixture
def index(tmp_path: Path):
    store = Store.open(tmp_path)
    create(store.engine)
    idx = BackgroundOrderIndex(store.engine, retry_seconds=0.01)
    yield idx
    idx.close()


def count(index: BackgroundOrderIndex) -> int:
    with index.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(order_lines_t)).scalar())


def test_queries_see_what_was_fed_and_values_are_exact(index: BackgroundOrderIndex) -> None:
    assert index.feed(records(0, 500, shipped=10)) == 510
    scope = Scope(merchants=("m-1",))
    want = sorted(f"o-{i}" for i in range(500) if i % 3 == 1)
    assert index.orders_in(scope) == want  # no wait needed by the caller
    assert index.orders_in(scope, unshipped=True) == [o for o in want if int(o[2:]) >= 10]
    with index.engine.connect() as c:
        row = c.execute(sa.select(order_lines_t).where(order_lines_t.c.record_id == "ol-7")).one()
    assert row._asdict() == {
        "record_id": "ol-7",
        "order_id": "o-7",
        "merchant_id": "m-1",
        "sku_id": 's-ü "quoted"',
        "region": "CN-ZJ",
        "campaign": None,
        "ts": 1_007,
    }


def test_feeding_twice_is_idempotent(index: BackgroundOrderIndex) -> None:
    index.feed(records(0, 100))
    index.feed(records(50, 100))  # a resumed run re-feeds what followed its checkpoint
    index.wait()
    assert count(index) == 150


def test_wait_returns_only_once_the_rows_are_written(
    index: BackgroundOrderIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    write = index._write

    def slow(lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        release.wait(5)
        write(lines, ships)

    monkeypatch.setattr(index, "_write", slow)
    index.feed(records(0, 50))
    waiter = threading.Thread(target=index.wait)
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive() and count(index) == 0  # the checkpoint is held back
    release.set()
    waiter.join(5)
    assert not waiter.is_alive() and count(index) == 50


def test_a_failing_write_fails_waits_keeps_the_rows_and_recovers(
    index: BackgroundOrderIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = 3
    write = index._write

    def flaky(lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))
        write(lines, ships)

    monkeypatch.setattr(index, "_write", flaky)
    index.feed(records(0, 40))
    with pytest.raises(RuntimeError, match=r"order index cannot be written: .*disk is full"):
        index.wait()  # a checkpoint now fails: nothing is acknowledged
    deadline = time.monotonic() + 5
    while True:  # a later checkpoint succeeds once a retry has written the rows
        try:
            index.wait()
            break
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert failures == 0 and count(index) == 40


def test_feed_after_close_writes_at_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    create(store.engine)
    idx = BackgroundOrderIndex(store.engine)
    idx.feed(records(0, 10))
    idx.close()
    idx.feed(records(10, 10))
    assert count(idx) == 20


def test_a_checkpoint_saves_the_backlog_and_a_resume_writes_it(
    rates_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wired as `warroom serve` wires it: rows the index has not written when a
    checkpoint commits are saved with it, and a process started after a crash writes
    them, so the index holds every order line of the records the store counts."""
    from warroom.command.clock import FakeClock
    from warroom.command.flows import attach
    from warroom.command.service import Command
    from warroom.runner import Runner, RunOptions
    from warroom.sources import files

    events_file = tmp_path / "events.ndjson"
    events_file.write_bytes(b"\n".join(e.line() for e in stream(random.Random(5), 300)) + b"\n")
    opts = RunOptions(events=str(events_file), data_dir=tmp_path / "d", rates=rates_file)

    def server() -> tuple[Runner, BackgroundOrderIndex]:
        runner = Runner(opts)
        index = BackgroundOrderIndex(runner.store.engine, retry_seconds=0.01)
        runner.join("order_index", index)
        attach(runner, Command.open(engine=runner.store.engine, clock=FakeClock(0), orders=index))
        return runner, index

    runner, index = server()
    monkeypatch.setattr(index, "_write", _failing)  # the disk is full: nothing lands
    chunk = next(iter(files.ndjson_chunks(str(events_file), batch_bytes=1 << 20)))
    assert chunk.data is not None
    batch = runner.decoder.decode_ndjson(chunk.data, chunk.first_line)
    runner.feed_many([(batch, str(events_file))], (chunk.end_offset, chunk.end_line))
    runner.checkpoint(complete=False)  # does not wait for the index
    with pytest.raises(RuntimeError, match="disk is full"):
        index.orders_in(Scope(merchants=("m-1",)))  # a query says why it cannot answer
    assert count(index) == 0
    # kill -9 here; the next process resumes from the checkpoint
    runner, index = server()
    assert runner.resumed and runner.offset == chunk.end_offset
    index.wait()
    orders = batch.frame.filter(pl.col("kind") == KIND_ORDER)["id"].n_unique()
    assert orders > 0 and count(index) == orders
    index.close()


def _failing(lines: pl.DataFrame, ships: pl.DataFrame) -> None:
    raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))


def test_checkpoints_while_the_thread_writes_do_not_deadlock(tmp_path: Path) -> None:
    """Polars frames lock themselves: a frame written out by the index thread (its
    JSON) and read by the writer's checkpoint at once deadlocked both threads, with the
    GIL held, and the server with them (pola-rs/polars#27396 is the same for
    `to_pandas`). The checkpoint reads clones. Run in a child process: a deadlock
    hangs the whole interpreter, so only a timeout outside it can see one."""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from test_order_index import BackgroundOrderIndex, Store, count, create, records
store = Store.open(Path({str(tmp_path)!r}))
create(store.engine)
index = BackgroundOrderIndex(store.engine)
for i in range(60):
    index.feed(records(i * 2_000, 2_000))
    for _ in range(20):
        index.checkpoint_state()
index.close()
print(count(index))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["120000"]


def test_an_index_kept_in_the_main_database_moves_to_its_own(tmp_path: Path) -> None:
    """A data directory written before `orders.db` existed keeps its order lines."""
    store = Store.open(tmp_path)
    with store.engine.begin() as c:  # the old layout: the tables in warroom.db
        c.exec_driver_sql(
            "CREATE TABLE main.cmd_order_lines (record_id TEXT PRIMARY KEY, order_id TEXT"
            " NOT NULL, merchant_id TEXT, sku_id TEXT, region TEXT, campaign TEXT,"
            " ts BIGINT NOT NULL)"
        )
        c.exec_driver_sql(
            "CREATE TABLE main.cmd_shipments (record_id TEXT PRIMARY KEY, order_id TEXT"
            " NOT NULL, status TEXT NOT NULL, ts BIGINT NOT NULL)"
        )
        c.exec_driver_sql(
            "INSERT INTO main.cmd_order_lines VALUES ('ol-1', 'o-1', 'm-1', 's', 'CN-ZJ',"
            " NULL, 5), ('ol-2', 'o-2', 'm-1', 's', 'CN-ZJ', NULL, 6)"
        )
        c.exec_driver_sql("INSERT INTO main.cmd_shipments VALUES ('sh-1', 'o-1', 'shipped', 7)")
    create(store.engine)
    create(store.engine)  # a second start finds nothing to move
    index = SqlOrderSource(store.engine)
    assert index.orders_in(Scope(merchants=("m-1",))) == ["o-1", "o-2"]
    assert index.orders_in(Scope(merchants=("m-1",)), unshipped=True) == ["o-2"]
    with store.engine.connect() as c:
        left = c.exec_driver_sql(
            "SELECT name FROM main.sqlite_master WHERE name LIKE 'cmd_order_lines%'"
            " OR name LIKE 'cmd_shipments%'"
        ).all()
    assert left == []


def test_the_index_thread_writes_through_its_own_connection_with_a_large_cache(
    index: BackgroundOrderIndex,
) -> None:
    index.feed(records(0, 50))
    index.wait()
    own = index._conn
    assert own is not None
    pragma = f"PRAGMA {ORDERS_SCHEMA}.cache_size"
    assert own.exec_driver_sql(pragma).scalar() == -CACHE_KIB
    with index.engine.connect() as pooled:  # the pool's connections keep SQLite's default
        assert pooled.exec_driver_sql(pragma).scalar() != -CACHE_KIB
    index.close()
    assert index._conn is None and count(index) == 50  # closed with the thread, not pooled
