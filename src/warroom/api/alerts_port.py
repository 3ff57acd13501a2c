"""The seam to the watch (src/warroom/alerts): what the API needs from an alert store.

The server plugs in the watch's `AlertBook` (api/watch.py); `NoAlerts` is for an API without it;
both have these two methods (OUTPUTS.md alert records, newest first).
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
