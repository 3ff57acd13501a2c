"""The server's order index thread: what it promises the checkpoint and the queries."""

from __future__ import annotations

import io
import pickle
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
from warroom.command.order_index import BackgroundOrderIndex
from warroom.command.orders import KIND_ORDER, KIND_SHIPMENT, Scope, SqlOrderSource, blocks
from warroom.command.tables import create, order_blocks_t
from warroom.store.db import Store


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
            "region": ["CN-ZJ" if i % 2 else "CN-GD" for i in ids],
            "campaign": [None if i % 4 == 3 else f"c-1{i % 2}" for i in ids],
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


def lines(source: SqlOrderSource) -> pl.DataFrame:
    with source.engine.connect() as c:
        return pl.concat(blocks(c, KIND_ORDER))


def count(source: SqlOrderSource) -> int:
    """Order lines written (blocks hold their row counts)."""
    t = order_blocks_t.c
    q = sa.select(sa.func.coalesce(sa.func.sum(t.rows), 0)).where(t.kind == KIND_ORDER)
    with source.engine.connect() as c:
        return int(c.execute(q).scalar_one())


def test_queries_see_what_was_fed_and_values_are_exact(index: BackgroundOrderIndex) -> None:
    assert index.feed(records(0, 500, shipped=10)) == 510
    scope = Scope(merchants=("m-1",))
    want = sorted(f"o-{i}" for i in range(500) if i % 3 == 1)
    assert index.orders_in(scope) == want  # no wait needed by the caller
    assert index.orders_in(scope, unshipped=True) == [o for o in want if int(o[2:]) >= 10]
    assert index.merchants_in(Scope(orders=("o-4", "o-8"))) == ["m-1", "m-2"]
    row = lines(index).filter(pl.col("order_id") == "o-7").to_dicts()
    assert row == [
        {
            "order_id": "o-7",
            "merchant_id": "m-1",
            "sku_id": 's-ü "quoted"',
            "region": "CN-ZJ",
            "campaign": None,
            "ts": 1_007,
        }
    ]


def test_scopes_narrow_together_as_a_python_pass_over_the_lines_says(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    create(store.engine)
    source = SqlOrderSource(store.engine)
    for first in range(0, 300, 100):  # three steps, three blocks
        source.feed(records(first, 100, shipped=20))
    fed = records(0, 300).to_dicts()
    shipped = {f"o-{i}" for first in range(0, 300, 100) for i in range(first, first + 20)}
    for scope in (
        Scope(merchants=("m-0", "m-2"), since=1_150),
        Scope(orders=("o-5", "o-150", "o-299", "o-x")),
        Scope(skus=('s-ü "quoted"',), regions=("CN-ZJ",), merchants=("m-1",)),
        Scope(regions=("CN-GD",)),
        Scope(campaigns=("c-11",)),
        Scope(since=0),  # since alone narrows nothing: never every order
    ):
        keys = {"merchant_id": scope.merchants, "order_id": scope.orders}
        keys |= {"sku_id": scope.skus, "region": scope.regions, "campaign": scope.campaigns}
        want = (
            sorted(
                {
                    r["order_id"]
                    for r in fed
                    if all(r[k] in v for k, v in keys.items() if v)
                    and (scope.since is None or r["ts"] >= scope.since)
                }
            )
            if scope.narrows_orders()
            else []
        )
        assert source.orders_in(scope) == want, scope
        assert source.orders_in(scope, unshipped=True) == [o for o in want if o not in shipped]


def test_a_line_fed_twice_changes_no_answer(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    create(store.engine)
    source = SqlOrderSource(store.engine)
    source.feed(records(0, 100, shipped=5))
    scope = Scope(merchants=("m-0",))
    once = (source.orders_in(scope), source.orders_in(scope, unshipped=True))
    source.feed(records(50, 100, shipped=5))  # o-50..o-99 again, o-50..o-54 shipped
    want = sorted(f"o-{i}" for i in range(150) if i % 3 == 0)
    assert source.orders_in(scope) == want and set(once[0]) < set(want)
    unshipped = [o for o in want if not (0 <= int(o[2:]) < 5 or 50 <= int(o[2:]) < 55)]
    assert source.orders_in(scope, unshipped=True) == unshipped
    assert source.merchants_in(scope) == ["m-0"]


def test_a_resume_deletes_the_blocks_written_after_its_checkpoint(tmp_path: Path) -> None:
    """The records past a checkpoint are fed again after a crash: the blocks they made
    before it go, so the index does not grow by what a crash replays."""
    store = Store.open(tmp_path)
    create(store.engine)
    first = BackgroundOrderIndex(store.engine)
    first.feed(records(0, 100))
    first.wait()
    state = first.checkpoint_state()  # the checkpoint commits here
    first.feed(records(100, 100))
    first.feed(records(200, 100))
    first.wait()
    assert count(first) == 300
    # kill -9; the next process restores the checkpoint and replays what followed it
    second = BackgroundOrderIndex(store.engine)
    second.restore_state(state)
    assert count(second) == 100
    second.feed(records(100, 100))
    second.wait()
    assert count(second) == 200 and lines(second)["order_id"].n_unique() == 200
    second.close()


def test_wait_returns_only_once_the_rows_are_written(
    index: BackgroundOrderIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    write = index._write_step

    def slow(seq: int, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        release.wait(5)
        write(seq, lines, ships)

    monkeypatch.setattr(index, "_write_step", slow)
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
    write = index._write_step

    def flaky(seq: int, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))
        write(seq, lines, ships)

    monkeypatch.setattr(index, "_write_step", flaky)
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
    monkeypatch.setattr(index, "_write_step", _failing)  # the disk is full: nothing lands
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


def _failing(seq: int, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
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


def test_an_index_of_rows_by_record_id_becomes_blocks(tmp_path: Path) -> None:
    """Data directories written before the blocks keep their order lines: in the main
    database (before `orders.db`) or in `orders.db` (a row per line)."""
    store = Store.open(tmp_path)
    with store.engine.begin() as c:  # lines in orders.db, shipments left in warroom.db
        c.exec_driver_sql(
            "CREATE TABLE orders.cmd_order_lines (record_id TEXT PRIMARY KEY, order_id TEXT"
            " NOT NULL, merchant_id TEXT, sku_id TEXT, region TEXT, campaign TEXT,"
            " ts BIGINT NOT NULL)"
        )
        c.exec_driver_sql(
            "CREATE TABLE main.cmd_shipments (record_id TEXT PRIMARY KEY, order_id TEXT"
            " NOT NULL, status TEXT NOT NULL, ts BIGINT NOT NULL)"
        )
        c.exec_driver_sql(
            "INSERT INTO orders.cmd_order_lines VALUES ('ol-1', 'o-1', 'm-1', 's', 'CN-ZJ',"
            " NULL, 5), ('ol-2', 'o-2', 'm-1', 's', 'CN-ZJ', 'c-11', 6)"
        )
        c.exec_driver_sql("INSERT INTO main.cmd_shipments VALUES ('sh-1', 'o-1', 'shipped', 7)")
    create(store.engine)
    create(store.engine)  # a second start finds nothing to convert
    index = SqlOrderSource(store.engine)
    assert index.orders_in(Scope(merchants=("m-1",))) == ["o-1", "o-2"]
    assert index.orders_in(Scope(merchants=("m-1",)), unshipped=True) == ["o-2"]
    assert index.orders_in(Scope(campaigns=("c-11",))) == ["o-2"]
    assert count(index) == 2
    with store.engine.connect() as c:
        left = [
            c.exec_driver_sql(
                f"SELECT name FROM {db}.sqlite_master WHERE name LIKE 'cmd_order_lines%'"
                " OR name LIKE 'cmd_shipments%'"
            ).all()
            for db in ("main", "orders")
        ]
    assert left == [[], []]


def test_a_checkpoint_of_the_row_layout_restores(index: BackgroundOrderIndex) -> None:
    """A checkpoint saved before the blocks held the backlog's rows with record ids and
    no step number: a resume writes them and deletes nothing."""
    index.feed(records(0, 10))
    index.wait()
    old = records(10, 5, shipped=2).rename({"id": "record_id"})
    backlog = [
        old.filter(pl.col("kind") == kind).drop("kind", *drop)
        for kind, drop in ((KIND_ORDER, ["status"]), (KIND_SHIPMENT, []))
    ]
    state = []
    for frame in backlog:
        buf = io.BytesIO()
        frame.write_ipc(buf)
        state.append(buf.getvalue())
    index.restore_state(pickle.dumps(tuple(state)))
    assert index.orders_in(Scope(merchants=("m-0", "m-1", "m-2"))) == sorted(
        f"o-{i}" for i in range(15)
    )
    assert index.orders_in(Scope(orders=("o-10", "o-11", "o-12")), unshipped=True) == ["o-12"]
