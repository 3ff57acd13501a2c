"""Debian's Chromium, headless, as warroom drives it: PDF reports, the browser
benchmark and the page tests. The flags keep it off the network (no background
fetches, component updates or sync) and work as root in a container."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
HEADLESS_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
