"""The seam to the watch (src/warroom/alerts): what the API needs from an alert store.

Until the watch exists the server uses `NoAlerts`; the watch plugs in an object with the
same two methods (OUTPUTS.md alert records, newest first).
"""

from __future__ import annotations

from typing import Any, Protocol


class AlertFeed(Protocol):
    def recent(self, *, limit: int, state: str | None = None) -> list[dict[str, Any]]: ...

    def acknowledge(self, *, alert_id: str, actor: str) -> bool:
        """False if there is no such alert."""
        ...


class NoAlerts:
    def recent(self, *, limit: int, state: str | None = None) -> list[dict[str, Any]]:
        return []

    def acknowledge(self, *, alert_id: str, actor: str) -> bool:
        return False
