"""The guard's book takes orders and shipments a stretch at a time; it must equal a book
that took them one record at a time, in input order, whatever the stream and its cuts."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_refunds_decider import T0, decode, order, refund, shipment
from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.policy import load_policy
from warroom.guards.refunds.state import SHIPPED, Buyer, BuyerBook, Order, _packed, _unpacked


@dataclass
class Reference:
    """The book as it was written before stretches: one record at a time."""

    buyers: dict[str, Buyer] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)

    def take(self, r: dict[str, Any]) -> None:
        if r["type"] == "order" and r["order_id"] not in self.orders:
            self.orders[r["order_id"]] = Order(r["ts"], r["user_id"], r["category"])
            self._buyer(r["user_id"], r["ts"]).orders += 1
        elif r["type"] == "shipment":
            o = self.orders.get(r["order_id"])
            if o is not None and r["status"] in SHIPPED:
                o.shipped = True
        elif r["type"] == "refund":
            b = self._buyer(r["user_id"], r["ts"])
            b.refunds += 1
            b.returned += r["return_shipped"] is True
            b.recent.append(r["ts"])
            b.last_refund_ts = max(b.last_refund_ts or r["ts"], r["ts"])

    def _buyer(self, user: str, ts: int) -> Buyer:
        if user not in self.buyers:
            self.buyers[user] = Buyer(first_ts=ts)
        return self.buyers[user]


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Orders of a few buyers with repeated lines, shipments before and after their
    order (and of unknown orders), and refunds among them."""
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 60))):
        n = draw(st.integers(0, 12))  # order numbers repeat: further lines, shipments
        user = f"u-{draw(st.integers(0, 5))}"
        ts = T0 + i * 1000
        kind = draw(st.sampled_from(["order", "order", "order", "shipment", "refund"]))
        if kind == "order":
            r = order(n, ts, user, f"d-{draw(st.integers(0, 3))}", f"a-{n % 4}")
            r["id"] = f"e-o-{i}"  # a further line of order n, not a duplicate record
        elif kind == "shipment":
            r = shipment(n, ts)
            r["id"] = f"e-s-{i}"
            r["status"] = draw(st.sampled_from(["shipped", "delivered", "returned"]))
        else:
            reason = draw(st.sampled_from(["wrong_size", "not_received", "damaged"]))
            r = refund(n, ts, user, "d-9", "a-9", reason, draw(st.booleans()))
            r["id"] = f"e-r-{i}"
        out.append(r)
    return out


@settings(max_examples=150, deadline=None)
@given(streams(), st.lists(st.integers(1, 20), min_size=1, max_size=8))
def test_stretches_equal_one_record_at_a_time(records: list[dict], cuts: list[int]) -> None:
    reference = Reference()
    for r in records:
        reference.take(r)
    frame = decode([dict(r) for r in records])
    whole, cut = RefundGuard(load_policy()), RefundGuard(load_policy())
    single = RefundGuard(load_policy())
    decided = [d.output() for d in whole.process(frame)]
    start, parts = 0, []
    for size in cuts * (frame.height // sum(cuts) + 1):
        parts += [d.output() for d in cut.process(frame.slice(start, size))]
        start += size
    one = [d.output() for i in range(frame.height) for d in single.process(frame.slice(i, 1))]
    assert decided == parts == one
    for guard in (whole, cut, single):
        assert dict(guard.book.orders.items()) == reference.orders
        assert list(guard.book.orders) == list(reference.orders)
        assert guard.book.buyers == reference.buyers
        assert list(guard.book.buyers) == list(reference.buyers)


@settings(max_examples=80, deadline=None)
@given(streams(), st.integers(1, 30))
def test_the_journal_of_changes_rebuilds_the_book(records: list[dict], every: int) -> None:
    """Applying each stretch's `changes()` to an empty book gives the book back, with
    its keys in the same order."""
    frame = decode(records)
    guard, copy = RefundGuard(load_policy()), RefundGuard(load_policy())
    for start in range(0, frame.height, every):
        guard.process(frame.slice(start, every))
        copy.book.apply(guard.book.changes())
    nothing = ("", 0)  # no keys, packed
    assert guard.book.changes() == {
        "buyer_columns": (nothing, [], [], [], [], [], []),
        "order_columns": (nothing, [], [], [], []),
    }
    assert dict(copy.book.orders.items()) == dict(guard.book.orders.items())
    assert list(copy.book.orders) == list(guard.book.orders)
    assert copy.book.buyers == guard.book.buyers
    whole = RefundGuard(load_policy())
    whole.book.apply(guard.book.everything())
    assert dict(whole.book.orders.items()) == dict(guard.book.orders.items())
    assert list(whole.book.orders) == list(guard.book.orders)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=128), unique=True))
def test_packed_keys_come_back_the_same(keys: list[str]) -> None:
    """Keys are any text of the contract's ids (newlines, NULs, characters beyond the
    BMP): packed into one string, they unpack to the same list."""
    packed = _packed((keys, list(range(len(keys)))))
    assert _unpacked(pickle.loads(pickle.dumps(packed, protocol=5))) == (
        keys,
        list(range(len(keys))),
    )


def test_a_journal_written_before_packing_still_applies() -> None:
    """Changes written by an earlier warroom (keys as a plain list) restore the book."""
    book = BuyerBook()
    book.apply(
        {
            "buyer_columns": (["u1"], [5], [1], [0], [0], [None], [[]]),
            "order_columns": (["o1"], [5], ["u1"], ["shoes"], [True]),
        }
    )
    assert list(book.orders) == ["o1"] and book.orders["o1"].shipped
    assert book.buyers["u1"].orders == 1


@pytest.mark.parametrize("native_ids", ["1", "0"])
def test_a_batch_that_fails_at_a_refund_leaves_the_book_whole(
    native_ids: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's order ids are coded ahead of their rows. When a refund fails halfway,
    the ids not taken in are let go: the next batch's orders get their own rows."""
    monkeypatch.setenv("WARROOM_NATIVE", native_ids)
    guard = RefundGuard(load_policy())
    assert type(guard.book.orders.ids).__name__ == ("_NativeIds" if native_ids == "1" else "_PyIds")
    first = [
        order(1, T0, "u-1", "d-1", "a-1"),
        order(2, T0 + 1, "u-2", "d-2", "a-2"),
        refund(1, T0 + 2, "u-1", "d-1", "a-1", "damaged", True),
        order(3, T0 + 3, "u-3", "d-3", "a-3"),
    ]

    def broken(facts: Any) -> Any:
        raise RuntimeError("a decision failed")

    monkeypatch.setattr(guard, "decide", broken)
    with pytest.raises(RuntimeError, match="a decision failed"):
        guard.process(decode(first))
    assert list(guard.book.orders) == ["o-1", "o-2"] and "o-3" not in guard.book.orders
    monkeypatch.undo()
    guard.process(
        decode([order(4, T0 + 4, "u-4", "d-4", "a-4"), order(3, T0 + 5, "u-3", "d", "a")])
    )
    assert list(guard.book.orders) == ["o-1", "o-2", "o-4", "o-3"]
    assert guard.book.orders["o-3"].ts == T0 + 5 and guard.book.orders["o-4"].user == "u-4"
    assert guard.book.buyers["u-3"].orders == 1
