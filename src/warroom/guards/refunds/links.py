"""Links between accounts through shared devices and addresses, weighted.

A device used by several accounts is a strong link; an address is weaker and fades as
1/n once more accounts use it than a household holds, so a pickup point or a family
address used by many honest buyers does not join them into one component. Weights
change as the graph grows (a pickup point starts small), so components are found at
decision time over the links whose weight is at least `link_at`, not merged for ever
as a union-find would; the search is bounded by `max_component`.
"""

from __future__ import annotations

from typing import Any

from warroom.guards.refunds.policy import Links

DEVICE, ADDRESS = 0, 1


class LinkGraph:
    def __init__(self, policy: Links) -> None:
        self.policy = policy
        # Insertion-ordered dicts used as sets: a set of strings iterates in an order that
        # changes with the process's hash seed, and the search below must not, or a
        # decision's reasons (and the accounts a bounded search reaches) would too.
        self.users_of: dict[tuple[int, str], dict[str, None]] = {}  # identifier -> accounts
        self.ids_of: dict[str, dict[tuple[int, str], None]] = {}  # account -> identifiers
        self._changed_ids: dict[tuple[int, str], None] = {}  # since `changes()`
        self._changed_users: dict[str, None] = {}

    def add(self, user: str, device: str | None, address: str | None) -> None:
        # called for every order: no loop, no setdefault's throw-away dicts
        if device is not None:
            self._link(user, (DEVICE, device))
        if address is not None:
            self._link(user, (ADDRESS, address))

    def _link(self, user: str, key: tuple[int, str]) -> None:
        users = self.users_of.get(key)
        if users is None:
            self.users_of[key] = {user: None}
        elif user in users:
            return
        else:
            users[user] = None
        ids = self.ids_of.get(user)
        if ids is None:
            self.ids_of[user] = {key: None}
        else:
            ids[key] = None
        self._changed_ids[key] = None
        self._changed_users[user] = None

    def changes(self) -> dict[str, dict[Any, Any]]:
        """The identifiers' and accounts' entries changed since the last call (whole
        entries, in first-change order)."""
        out = {
            "users_of": {k: self.users_of[k] for k in self._changed_ids},
            "ids_of": {u: self.ids_of[u] for u in self._changed_users},
        }
        self._changed_ids, self._changed_users = {}, {}
        return out

    def everything(self) -> dict[str, dict[Any, Any]]:
        """The whole graph in the form of `changes()`."""
        return {"users_of": self.users_of, "ids_of": self.ids_of}

    def apply(self, changes: dict[str, dict[Any, Any]]) -> None:
        self.users_of.update(changes["users_of"])
        self.ids_of.update(changes["ids_of"])

    def weight(self, key: tuple[int, str]) -> float:
        """The weight of the links an identifier makes between its accounts."""
        p = self.policy
        if key[0] == DEVICE:
            return p.device_weight
        n = len(self.users_of.get(key, ()))
        return p.address_weight * min(1.0, p.household_size / max(n, 1))

    def component(self, user: str) -> tuple[dict[str, float], list[tuple[int, str]]]:
        """The accounts joined to `user` by links of weight >= link_at, each with the
        strength of its tie (the weakest link on the path found first), and the
        identifiers that join them."""
        tie, via = {user: 1.0}, []
        frontier = [user]
        limit, link_at = self.policy.max_component, self.policy.link_at
        while frontier and len(tie) < limit:
            nxt = []
            for u in frontier:
                for key in self.ids_of.get(u, ()):
                    users = self.users_of[key]
                    w = self.weight(key)
                    if len(users) < 2 or w < link_at:
                        continue
                    if key not in via:
                        via.append(key)
                    for other in users:
                        if other not in tie:
                            tie[other] = min(tie[u], w)
                            nxt.append(other)
                            if len(tie) >= limit:
                                return tie, via
            frontier = nxt
        return tie, via
