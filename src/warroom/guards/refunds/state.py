"""What the guard remembers about buyers and orders, built from the records in order.

Orders are kept as columns (`Orders`) and taken in a stretch at a time (`BuyerBook.fold`):
the guard reads every order of the stream, and one Python object and a few method calls
per order cost 2.8-4.2 us per record of an all-order load in the server's one writer
thread (1.4-1.75 us in session 15, and 0.95-1.21 us with the order ids coded in C++;
docs/benchmarks.md).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import accumulate
from operator import attrgetter
from sys import intern
from typing import Any

import numpy as np
import polars as pl

from warroom.engine import native

VELOCITY_KEPT = 32  # recent refund times kept per buyer (velocity saturates well below)
SHIPPED = frozenset(("shipped", "delivered", "returned"))


@dataclass(slots=True)
class Buyer:
    first_ts: int
    orders: int = 0
    refunds: int = 0
    returned: int = 0  # refunds with the goods sent back
    last_refund_ts: int | None = None
    recent: list[int] = field(default_factory=list)  # most buyers never refund: stays empty


@dataclass(slots=True)
class Order:
    ts: int
    user: str
    category: str
    shipped: bool = False


class _NativeIds:
    """Order id -> code, codes in order of first appearance, in C++ (the engine's
    `StrDict`) on polars' own buffers. A Python dict of ~1 M ids, and the first-line
    test in Python, took ~28 % of the server's writer thread under an all-order load
    (py-spy, session 15)."""

    def __init__(self) -> None:
        assert native._engine_core is not None
        self._dict = native._engine_core.StrDict([], False)  # no "unknown" value first

    def encode(self, ids: pl.Series) -> np.ndarray:
        codes, _ = self._dict.encode(*native._string_view(ids), list_added=False)
        return codes

    def find(self, key: str) -> int:
        return int(self._dict.find(key))

    def truncate(self, n: int) -> None:
        self._dict.truncate(n)


class _PyIds:
    """`_NativeIds` in Python, where the native part is not built or switched off."""

    def __init__(self) -> None:
        self._dict: dict[str, int] = {}

    def encode(self, ids: pl.Series) -> np.ndarray:
        d = self._dict
        return np.fromiter((d.setdefault(k, len(d)) for k in ids.to_list()), np.int64, len(ids))

    def find(self, key: str) -> int:
        return self._dict.get(key, -1)

    def truncate(self, n: int) -> None:
        while len(self._dict) > n:  # the newest codes are the last inserted
            self._dict.popitem()


class Orders(Mapping[str, Order]):
    """Orders by id, as columns: row i holds the i-th order seen. An `Order` is made
    only when one is looked up (a refund's order), never for an order taken in.

    An id's row is its code in `ids`. A batch's ids are coded at once (`encode`), ahead
    of their rows, which are appended stretch by stretch: an id whose row is not there
    yet is not an order yet (`index`)."""

    def __init__(self) -> None:
        self.ids = _NativeIds() if native.available() else _PyIds()
        self.key: list[str] = []
        self.ts = array("q")
        self.user: list[str] = []  # interned: one string per buyer, not per order
        self.category: list[str] = []
        self.shipped = bytearray()

    def encode(self, ids: pl.Series) -> np.ndarray:
        """The codes of a column of order ids (no nulls); new ids get the next codes in
        order of first appearance, and become orders once their rows are appended."""
        if ids.null_count():
            raise ValueError("order ids must not be null")
        return self.ids.encode(ids)

    def forget_uncommitted(self) -> None:
        """Drop the codes of ids coded ahead whose rows were never appended (a batch
        that failed halfway): they would otherwise take the next orders' codes."""
        self.ids.truncate(len(self.key))

    def index(self, order_id: str) -> int | None:
        i = self.ids.find(order_id)
        return i if 0 <= i < len(self.key) else None

    def __getitem__(self, order_id: str) -> Order:
        i = self.index(order_id)
        if i is None:
            raise KeyError(order_id)
        return self._at(i)

    def get(self, order_id: str, default: Any = None) -> Any:
        i = self.index(order_id)
        return default if i is None else self._at(i)

    def __contains__(self, order_id: object) -> bool:
        return isinstance(order_id, str) and self.index(order_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.key)

    def __len__(self) -> int:
        return len(self.key)

    def _at(self, i: int) -> Order:
        return Order(self.ts[i], self.user[i], self.category[i], bool(self.shipped[i]))

    def append(self, keys: list[str], ts: Iterable[int], users: list[str], cats: list[str]) -> None:
        """Rows for `keys`, which were coded (`encode`) as the next rows, in this order."""
        self.key += keys
        self.ts.extend(ts)
        self.user += users
        self.category += cats
        self.shipped += bytes(len(keys))

    def columns(self, start: int, stop: int) -> tuple[list, ...]:
        """Rows `start` to `stop` as `(keys, ts, users, categories, shipped)` lists."""
        s = slice(start, stop)
        shipped = list(map(bool, self.shipped[s]))
        return self.key[s], self.ts[s].tolist(), self.user[s], self.category[s], shipped

    def whole(self) -> tuple[Any, ...]:
        """Every row in the form of `columns`, with the times and the shipped flags as
        the arrays they are (copies: 9-15 ms for 1 M orders against 40-45 ms as lists,
        and those two pickle in 20-31 ms against 45-52 ms)."""
        return self.key[:], self.ts[:], self.user[:], self.category[:], bytes(self.shipped)

    def columns_at(self, rows: Iterable[int]) -> tuple[list, ...]:
        """The given rows, in the form of `columns`."""
        rows = list(rows)
        return (
            [self.key[i] for i in rows],
            [self.ts[i] for i in rows],
            [self.user[i] for i in rows],
            [self.category[i] for i in rows],
            [bool(self.shipped[i]) for i in rows],
        )


class BuyerBook:
    """Buyers and orders by id; one entry per order (its first line), not per line."""

    def __init__(self) -> None:
        self.buyers: dict[str, Buyer] = {}
        self.orders = Orders()
        # changed since `changes()` was last called: buyers (a dict: an insertion-ordered
        # set), the orders from row `_new_from` on, and earlier orders since shipped
        self._changed_buyers: dict[str, None] = {}
        self._new_from = 0
        self._shipped_since: dict[int, None] = {}

    def buyer(self, user: str, ts: int) -> Buyer:
        b = self.buyers.get(user)
        if b is None:
            b = self.buyers[user] = Buyer(first_ts=ts)
        self._changed_buyers[user] = None  # every caller changes it
        return b

    def fold(
        self, cols: Sequence[list[Any]], orders: list[int], ships: list[int], codes: np.ndarray
    ) -> None:
        """Take in a stretch of records with no refund among them: the order lines at
        positions `orders` and the shipments at `ships` (ascending) of the columns
        `(ts, order_id, user_id, category, status)`; `codes` are the order lines' ids
        coded by `self.orders.encode`. The same as taking them one by one in input
        order: an order counts once, at its first line; a shipment marks only an order
        whose first line came before it."""
        ts, oids, users, cats, statuses = cols
        book = self.orders
        n0 = len(book.key)
        # A new id's code is one past every code before it in the batch, and no line
        # after its first has a higher one: its first line is where the running maximum
        # steps up.
        steps = np.flatnonzero(
            codes > np.maximum.accumulate(np.concatenate(([n0 - 1], codes[:-1])))
        )
        new = [orders[i] for i in steps.tolist()]
        if new:
            if codes[steps[0]] != n0 or codes[steps[-1]] != n0 + len(new) - 1:
                raise RuntimeError("the order book's ids and rows disagree")
            new_users = list(map(intern, [users[p] for p in new]))
            new_ts = [ts[p] for p in new]
            book.append(
                [oids[p] for p in new],
                new_ts,
                new_users,
                list(map(intern, [cats[p] or "" for p in new])),
            )
            # a buyer's first order here gives its first_ts (reversed: the first one wins)
            first_ts = dict(zip(reversed(new_users), reversed(new_ts), strict=True))
            buyers = self.buyers
            for u, n in Counter(new_users).items():  # in order of first appearance
                b = buyers.get(u)
                if b is None:
                    b = buyers[u] = Buyer(first_ts=first_ts[u])
                b.orders += n
            self._changed_buyers.update(dict.fromkeys(new_users))
        for q in ships:
            i = book.index(oids[q])
            if i is None or book.shipped[i] or statuses[q] not in SHIPPED:
                continue
            if i >= n0 and new[i - n0] > q:
                continue  # the order's first line comes after this shipment
            book.shipped[i] = 1
            if i < self._new_from:
                self._shipped_since[i] = None

    def changes(self) -> dict[str, Any]:
        """The buyers and orders changed since the last call: buyers in first-change
        order; orders shipped since, then the new orders in the order they came (so
        applying them keeps the dicts' order)."""
        shipped = self.orders.columns_at(self._shipped_since)
        added = self.orders.columns(self._new_from, len(self.orders.key))
        out = {
            "buyer_columns": _columns(self._changed_buyers, self.buyers, _BUYER_FIELDS),
            "order_columns": _packed(tuple(a + b for a, b in zip(shipped, added, strict=True))),
        }
        self._changed_buyers, self._shipped_since = {}, {}
        self._new_from = len(self.orders.key)
        return out

    def everything(self) -> dict[str, Any]:
        """Every buyer and order, in the form of `changes()`: applied to an empty book,
        it gives this book back."""
        return {
            "buyer_columns": _columns(self.buyers, self.buyers, _BUYER_FIELDS),
            "order_columns": _packed(self.orders.whole()),
        }

    def apply(self, changes: dict[str, Any]) -> None:
        """Apply `changes()` or `everything()` output (a restore: not itself a change)."""
        if "buyer_columns" in changes:
            buyer_rows: Any = zip(*_unpacked(changes["buyer_columns"]), strict=True)
            order_rows: Any = zip(*_unpacked(changes["order_columns"]), strict=True)
        else:  # a journal written before columns: one tuple per entry
            buyer_rows = ((k, *v) for k, v in changes["buyers"].items())
            order_rows = ((k, *v) for k, v in changes["orders"].items())
        for k, first_ts, n, refunds, returned, last, recent in buyer_rows:
            self.buyers[k] = Buyer(first_ts, n, refunds, returned, last, list(recent))
        book, caught_up = self.orders, self._new_from == len(self.orders.key)
        rows = list(order_rows)
        if rows:
            keys = [row[0] for row in rows]
            codes = book.encode(pl.Series(keys, dtype=pl.String)).tolist()
            n0 = len(book.key)
            new: list[tuple[str, int, str, str, bool]] = []  # appended at once, in order
            for code, row in zip(codes, rows, strict=True):
                if code < n0:
                    book.shipped[code] = row[4]
                elif code == n0 + len(new):
                    new.append(row)
                # else: an id given twice in one change (never written so); its first wins
            if new:
                keys, ts, users, cats, shipped = map(list, zip(*new, strict=True))
                book.append(keys, ts, list(map(intern, users)), list(map(intern, cats)))
                book.shipped[n0:] = bytes(map(bool, shipped))
        if caught_up:
            self._new_from = len(book.key)

    def add_refund(self, user: str, ts: int, returned: bool = False) -> None:
        b = self.buyer(user, ts)
        b.refunds += 1
        b.returned += returned
        b.recent.append(ts)
        if len(b.recent) > VELOCITY_KEPT:
            del b.recent[0]
        b.last_refund_ts = ts if b.last_refund_ts is None else max(b.last_refund_ts, ts)


_BUYER_FIELDS = tuple(f.name for f in fields(Buyer))  # the constructors' order


def _columns(keys: Any, by_key: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """The keys (packed), then each field of their entries, as lists."""
    entries = [by_key[k] for k in keys]
    return _packed((list(keys), *(list(map(attrgetter(n), entries)) for n in names)))


def _packed(columns: Sequence[Any]) -> tuple[Any, ...]:
    """The first column (distinct keys) as one string: pickle keeps a memo entry for
    every string of a list, and a book of 1 M orders took 145-168 ms to pickle whole, in
    the server's writer thread, holding the GIL (a stall of ingest every few checkpoints,
    growing with the day). Joined by newlines, with their count; a key holding a newline
    (ids are any text) makes it the keys' lengths instead."""
    keys, *rest = columns
    text = "\n".join(keys)
    if text.count("\n") == max(len(keys) - 1, 0):
        return (text, len(keys)), *rest
    return ("".join(keys), array("I", map(len, keys))), *rest


def _unpacked(columns: Sequence[Any]) -> tuple[Any, ...]:
    """`_packed`'s inverse; a journal written before packing has the keys as a list."""
    keys, *rest = columns
    if isinstance(keys, tuple):
        text, counted = keys
        if isinstance(counted, int):
            keys = text.split("\n") if counted else []
        else:  # lengths: the keys hold newlines
            ends = list(accumulate(counted))
            keys = list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))
    return keys, *rest
