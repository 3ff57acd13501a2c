"""`warroom serve` / `warroom demo`: uvicorn running the app, in one process."""

from __future__ import annotations

from types import FrameType

import uvicorn
from fastapi import FastAPI

from warroom.api.app import create_app
from warroom.api.settings import ServeSettings


def serve(settings: ServeSettings, log_level: str = "warning") -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=2,  # live streams never end by themselves
        access_log=False,
    )
    _Server(config, app).run()


class _Server(uvicorn.Server):
    """Ends the live streams with their last frame on shutdown, instead of cutting them
    mid-response when the graceful-shutdown timeout runs out."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.state.ctx.stream.closing = True
        super().handle_exit(sig, frame)
