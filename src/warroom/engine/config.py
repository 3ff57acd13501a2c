"""Engine settings. They are stored with the state: a resume must use the same ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EngineConfig:
    lateness_ms: int = 5_000  # a record may be this late and still correct its window
    dedup_horizon_ms: int = 600_000  # a repeated id is recognised within this event time
    order_horizon_ms: int = 48 * 3_600_000  # how long an order's dimensions are kept
    retention_1s_ms: int = 6 * 3_600_000  # 1-second cells kept; 1m and 1h kept for ever

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
