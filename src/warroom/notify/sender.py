"""Deliver batches through notifiers: retries with exponential backoff on retryable
failures only, and the notification log so that nothing is sent twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from warroom.alerts.dispatch import Batch
from warroom.notify.base import Notifier, NotifyError
from warroom.notify.nflog import NotificationLog, batch_key

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    integration: str
    sent: bool
    attempts: int
    skipped: bool = False  # already in the notification log
    error: str = ""


@dataclass
class Sender:
    receivers: dict[str, list[Notifier]]  # receiver name -> its integrations
    nflog: NotificationLog
    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    outcomes: list[Outcome] = field(default_factory=list)

    def __call__(self, batch: Batch) -> list[Outcome]:
        out = [self._one(batch, n) for n in self.receivers.get(batch.receiver, [])]
        self.outcomes.extend(out)
        return out

    def _one(self, batch: Batch, notifier: Notifier) -> Outcome:
        key = batch_key(batch, notifier.name)
        if self.nflog.sent(key):
            return Outcome(notifier.name, True, 0, skipped=True)
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                notifier.notify(batch)
            except NotifyError as exc:
                if not exc.retryable or attempt == self.attempts:
                    log.warning("notify %s failed for good: %s", notifier.name, exc)
                    return Outcome(notifier.name, False, attempt, error=str(exc))
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.nflog.record(key, batch, notifier.name)
            return Outcome(notifier.name, True, attempt)
        raise AssertionError("unreachable")
