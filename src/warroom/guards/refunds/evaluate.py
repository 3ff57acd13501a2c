"""Scoring decisions against a simulated day's labels and hard cases.

Honest refunds are those of buyers outside every `refund_abuse` label; a buyer is held
when at least one of their refunds went to review. Precision and recall are over the
buyers who asked at least one refund.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from warroom.guards.refunds.decider import Decision
from warroom.guards.refunds.policy import Policy
from warroom.guards.refunds.stream import replay_decisions


@dataclass
class Score:
    scenario: str
    refunds: int
    honest_refunds: int
    honest_approved_share: float
    returner_refunds: int
    returner_approved_share: float
    shared_address_refunds: int
    shared_address_approved_share: float
    ring_buyers: int
    held_buyers: int
    precision: float
    recall: float

    def row(self) -> dict[str, object]:
        return asdict(self)


def score(name: str, decisions: list[Decision], labels: list[dict], hard: dict) -> Score:
    ring = {u for lb in labels if lb["kind"] == "refund_abuse" for u in lb["entities"]["users"]}
    returners = set(hard.get("heavy_returners", {}).get("users", []))
    shared = {u for users in hard.get("shared_addresses", {}).values() for u in users}
    honest = [d for d in decisions if d.user_id not in ring]
    held = {d.user_id for d in decisions if d.decision == "review"}
    ring_asking = {d.user_id for d in decisions if d.user_id in ring}

    def approved(group: list[Decision]) -> float:
        return sum(d.decision == "approve" for d in group) / len(group) if group else 1.0

    ret = [d for d in honest if d.user_id in returners]
    sha = [d for d in honest if d.user_id in shared]
    caught = len(held & ring)
    return Score(
        scenario=name,
        refunds=len(decisions),
        honest_refunds=len(honest),
        honest_approved_share=approved(honest),
        returner_refunds=len(ret),
        returner_approved_share=approved(ret),
        shared_address_refunds=len(sha),
        shared_address_approved_share=approved(sha),
        ring_buyers=len(ring_asking),
        held_buyers=len(held),
        precision=caught / len(held) if held else 1.0,
        recall=caught / len(ring_asking) if ring_asking else 1.0,
    )


def scenario_dirs(roots: list[Path]) -> list[Path]:
    """Each root that holds labels.json, or its subdirectories that do."""
    out: list[Path] = []
    for root in roots:
        if (root / "labels.json").exists():
            out.append(root)
        else:
            out.extend(sorted(p.parent for p in root.glob("*/labels.json")))
    return out


def evaluate_dir(scenario: Path, policy: Policy) -> Score:
    rates = scenario / "rates.json"
    decisions, _ = replay_decisions(
        scenario / "events.ndjson", policy, rates if rates.exists() else None
    )
    labels = json.loads((scenario / "labels.json").read_text())
    hard_path = scenario / "hard_cases.json"
    hard = json.loads(hard_path.read_text()) if hard_path.exists() else {}
    return score(scenario.name, decisions, labels, hard)
