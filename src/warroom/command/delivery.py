"""Where merchant notices go, and the HTTP sender that takes them there.

Endpoints are a YAML file (`merchants.yaml`)::

    default: https://gateway.internal/merchants/{merchant_id}/warroom  # optional
    timeout: 5s                                                        # optional
    merchants:
      m-1: https://m1.example/hooks/warroom

found at `$WARROOM_MERCHANT_ENDPOINTS`, else `<data>/merchants.yaml`; the environment's
`WARROOM_MERCHANT_URL` is the default template when the file has none. A merchant's own
URL wins over the template. The file is read again when it changes, so an endpoint
added during the day counts from the next round; a broken edit keeps the last good one.

The sender POSTs the notice as JSON (`X-Warroom-Notice: <id>` lets the merchant drop a
duplicate after a retry) and classifies failures by the notify package's rule
(`notify.base.post_json`): 4xx is final, 5xx, time-outs and refused connections retry.
A merchant with no endpoint at all fails at once with a message that says so.
"""

from __future__ import annotations

import logging
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from warroom.command.actions.merchants import Notice
from warroom.command.clock import parse_duration
from warroom.command.errors import CommandError
from warroom.notify.base import NotifyError, post_json

log = logging.getLogger("warroom.merchants")
ENV_FILE, ENV_URL = "WARROOM_MERCHANT_ENDPOINTS", "WARROOM_MERCHANT_URL"


@dataclass(frozen=True)
class Endpoints:
    merchants: dict[str, str] = field(default_factory=dict)
    default: str | None = None  # a template with {merchant_id}
    timeout_s: float = 5.0

    def url_for(self, merchant_id: str) -> str | None:
        if merchant_id in self.merchants:
            return self.merchants[merchant_id]
        if self.default is None:
            return None
        return self.default.format(merchant_id=quote(merchant_id, safe=""))


def _url(value: Any, where: str, template: bool = False) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise CommandError(f"{where}: {value!r} is not an http(s) URL")
    if template:
        names = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        if names - {"merchant_id"}:
            raise CommandError(f"{where}: only {{merchant_id}} may stand in the URL")
    return value


def parse(doc: Any, *, where: str, env_default: str | None = None) -> Endpoints:
    """The YAML document (or None); errors name the file and the key."""
    doc = doc or {}
    if not isinstance(doc, dict):
        raise CommandError(f"{where}: expected a mapping with `merchants` and `default`")
    unknown = set(doc) - {"merchants", "default", "timeout"}
    if unknown:
        raise CommandError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    merchants = doc.get("merchants") or {}
    if not isinstance(merchants, dict):
        raise CommandError(f"{where}: merchants: expected merchant_id: URL")
    urls = {str(m): _url(u, f"{where}: merchants.{m}") for m, u in merchants.items()}
    default = doc.get("default", env_default)
    if default is not None:
        default = _url(default, f"{where}: default", template=True)
    try:
        timeout_s = parse_duration(doc.get("timeout", "5s")) / 1000
    except ValueError as exc:
        raise CommandError(f"{where}: timeout: {exc}") from exc
    return Endpoints(urls, default, timeout_s)


def endpoints_file(data_dir: Path) -> Path:
    env = os.environ.get(ENV_FILE)
    return Path(env) if env else Path(data_dir) / "merchants.yaml"


class EndpointBook:
    """The endpoints as the file says now; re-read when its modification time or size
    changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) last read
        self._current = Endpoints(default=os.environ.get(ENV_URL) or None)
        self.error = ""  # the last reading's problem, "" when the file is fine

    def current(self) -> Endpoints:
        try:
            st = self.path.stat()
            seen: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen != self._seen:
            self._seen = seen
            self._load(seen is not None)
        return self._current

    def _load(self, exists: bool) -> None:
        env_default = os.environ.get(ENV_URL) or None
        try:
            doc = yaml.safe_load(self.path.read_text("utf-8")) if exists else None
            self._current, self.error = (
                parse(doc, where=str(self.path), env_default=env_default),
                "",
            )
        except CommandError as exc:
            self.error = str(exc)  # keep the last good endpoints: a typo must not stop delivery
        except (OSError, yaml.YAMLError) as exc:
            self.error = f"{self.path}: {exc}"
        if self.error:
            log.error("merchant endpoints not reloaded: %s", self.error)


class HttpSender:
    """`deliver_due`'s sender: one POST per notice to the merchant's endpoint."""

    def __init__(self, book: EndpointBook, client: httpx.Client | None = None) -> None:
        self.book = book
        self.client = client or httpx.Client()

    def __call__(self, notice: Notice) -> None:
        endpoints = self.book.current()
        url = endpoints.url_for(notice.merchant_id)
        if url is None:
            raise NotifyError(
                f"no endpoint configured for merchant {notice.merchant_id}", retryable=False
            )
        payload = {
            "notice_id": notice.id,
            "merchant_id": notice.merchant_id,
            "message": notice.message,
            "ref": notice.ref,
            "attempt": notice.attempt,
            # POST with the merchant's own token (`warroom token create --role merchant`)
            "ack": f"/api/v1/merchant/notices/{notice.id}/ack",
        }
        self.client.timeout = httpx.Timeout(endpoints.timeout_s)
        resp = post_json(self.client, url, payload, headers={"X-Warroom-Notice": str(notice.id)})
        if resp.status_code >= 300:  # not delivered: a moved endpoint is fixed in the file
            raise NotifyError(
                f"{url}: HTTP {resp.status_code} (redirects are not followed)", retryable=False
            )

    def close(self) -> None:
        self.client.close()
