"""Logins in the audit trail: the first time each token is seen by this process.

A bearer token is checked on every request; writing each check would bury the trail
(the wall alone asks every second), so a token's first successful use per process is
the "login". Failed checks are already there as denials (`api/security.py`).
"""

from __future__ import annotations

import threading
from typing import Any

from warroom.audit.log import AuditEvent, AuditLog
from warroom.auth.tokens import TokenInfo, TokenStore


class LoginAudit:
    """A TokenStore whose `verify` records logins; everything else passes through."""

    def __init__(self, tokens: TokenStore, audit: AuditLog) -> None:
        self._tokens, self._audit = tokens, audit
        self.seen: dict[str, TokenInfo] = {}  # token id -> info, for the person's name
        self._lock = threading.Lock()

    def verify(self, token: str) -> TokenInfo | None:
        info = self._tokens.verify(token)
        if info is None:
            return None
        with self._lock:
            first = info.id not in self.seen
            self.seen[info.id] = info
        if first:
            actor = f"token:{info.id}({info.role})"
            scope = f" (merchant {info.merchant_id})" if info.merchant_id else ""
            detail = info.name + scope
            self._audit.record(AuditEvent(actor, "login", f"token:{info.id}", "ok", detail))
        return info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokens, name)
