"""What-if: the same events decided under two policies in one replay; what would change."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from warroom.guards.refunds.decider import Decision
from warroom.guards.refunds.policy import Policy
from warroom.guards.refunds.stream import attach


@dataclass
class Side:
    approve: int = 0
    review: int = 0
    approved_minor: int = 0
    held_minor: int = 0

    def add(self, d: Decision) -> None:
        if d.decision == "approve":
            self.approve += 1
            self.approved_minor += d.amount_minor
        else:
            self.review += 1
            self.held_minor += d.amount_minor


@dataclass
class Mover:
    user_id: str
    to_review: int = 0  # refunds approved before, held now
    to_approve: int = 0  # refunds held before, approved now
    amount_minor: int = 0  # of the refunds that moved


@dataclass
class WhatIf:
    old: Side = field(default_factory=Side)
    new: Side = field(default_factory=Side)
    changed: int = 0
    movers: list[Mover] = field(default_factory=list)  # largest moves first
    base: str = "CNY"
    digits: int = 2


def compare(old: list[Decision], new: list[Decision]) -> WhatIf:
    """Decisions of the same refunds (same order) under two policies."""
    out = WhatIf()
    moved: dict[str, Mover] = defaultdict(lambda: Mover(""))
    for a, b in zip(old, new, strict=True):
        out.old.add(a)
        out.new.add(b)
        if a.decision != b.decision:
            out.changed += 1
            m = moved[b.user_id]
            m.user_id = b.user_id
            m.amount_minor += b.amount_minor
            if b.decision == "review":
                m.to_review += 1
            else:
                m.to_approve += 1
    out.movers = sorted(
        moved.values(), key=lambda m: (-(m.to_review + m.to_approve), -m.amount_minor, m.user_id)
    )
    return out


def what_if(events: Path, old: Policy, new: Policy, rates: Path | None = None) -> WhatIf:
    """Replay `events` once, deciding every refund under both policies side by side."""
    from warroom.runner import Runner, RunOptions

    got_old: list[Decision] = []
    got_new: list[Decision] = []
    with tempfile.TemporaryDirectory(prefix="warroom-whatif-") as tmp:
        opts = RunOptions(
            events=str(events),
            data_dir=Path(tmp),
            rates=rates,
            flush_at_end=False,
            checkpoint_seconds=1e9,
        )
        runner = Runner(opts)
        attach(runner, old, sink=got_old.extend)
        guard, _ = attach(runner, new, sink=got_new.extend)
        runner.run()
        runner.store.engine.dispose()
    result = compare(got_old, got_new)
    result.base, result.digits = guard.base, guard.digits
    return result
