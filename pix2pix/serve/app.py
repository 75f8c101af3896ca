"""The ASGI application: the page, its assets, and the JSON/PNG API around one translator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from pix2pix.serve.errors import ApiError, error_body
from pix2pix.serve.images import decode_image, encode_png, image_bytes_from_request
from pix2pix.serve.model_info import canvas_size, model_info, read_palette
from pix2pix.serve.options import parse_options
from pix2pix.serve.security import SecurityMiddleware
from pix2pix.serve.settings import ServeSettings
from pix2pix.serve.starters import StarterDrawings
from pix2pix.serve.worker import InferenceWorker

logger = logging.getLogger(__name__)

# the only files ever served: a fixed table, so no path from a client reaches the disk
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    # the page links the SVG; /favicon.ico too, for clients that ask for it regardless
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
}
_STARTER_INDEX = re.compile(r"[0-9]{1,4}")
# everything from this server, nothing inline or remote: an injected script cannot run
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def _read_assets() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("pix2pix.serve") / "static"
    return {
        route: ((folder / name).read_bytes(), media) for route, (name, media) in _ASSETS.items()
    }


def _png(array: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(array))


def create_app(
    translator: Any, settings: ServeSettings | None = None, *, name: str = "model"
) -> FastAPI:
    """Build the server's application around a loaded translator.

    Args:
        translator: The :class:`~pix2pix.Translator` shared by every request.
        settings: Limits, bound address and token (defaults: :class:`ServeSettings`).
        name: How the page and ``/api/info`` name the model (not a path: shown to clients).

    Returns:
        A FastAPI application; run it with :func:`pix2pix.serve.server.serve` (or any ASGI
        server, keeping ``settings.host`` the address it binds).

    Examples:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> client = TestClient(create_app(translator))  # doctest: +SKIP
        >>> client.get("/healthz").json()  # doctest: +SKIP
        {'status': 'ok'}
    """
    settings = settings or ServeSettings()
    worker = InferenceWorker(
        translator,
        max_batch=settings.max_batch,
        max_queue=settings.max_queue,
        max_batch_pixels=settings.batch_pixels,
    )
    assets = _read_assets()
    size = canvas_size(translator)
    starters = StarterDrawings(read_palette(translator.inference), size)
    limits = {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels}
    info = model_info(translator, name=name, limits=limits, auth=settings.token is not None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(worker.close)

    # no /docs: the Swagger page loads its scripts from a CDN, and this server works offline
    app = FastAPI(
        title="pix2pix serve",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.worker = worker

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message), exc.status, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = {404: "No such page or endpoint; see GET /api/info and the docs."}.get(
            exc.status_code, str(exc.detail)
        )
        return JSONResponse(error_body(exc.status_code, message), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(422, f"Invalid request: {exc.errors()}"), 422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        message = f"Internal error ({type(exc).__name__}); the server log has the details."
        return JSONResponse(error_body(500, message), 500)

    def asset(route: str) -> Any:
        body, media = assets[route]

        async def serve_asset() -> Response:
            return Response(body, media_type=media, headers=_PAGE_HEADERS)

        return serve_asset

    for route in _ASSETS:
        app.get(route, include_in_schema=False)(asset(route))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Readiness: 200 once the model is loaded and its worker runs, else 503."""
        if not worker.alive:
            return JSONResponse(error_body(503, "The inference worker has stopped."), 503)
        return JSONResponse({"status": "ok"})

    @app.get("/api/info")
    async def api_info() -> JSONResponse:
        """The model's config, inference metadata, canvas size, palette and limits."""
        return JSONResponse(info)

    @app.get("/api/starters")
    async def api_starters() -> JSONResponse:
        """The starter drawings of a label-map model (none for other models)."""
        height, width = size
        urls = [f"/api/starters/{i}.png" for i in range(len(starters))]
        return JSONResponse({"count": len(urls), "height": height, "width": width, "urls": urls})

    @app.get("/api/starters/{index}.png")
    async def api_starter(index: str) -> Response:
        """Starter drawing ``index`` as a PNG label map in the model's palette."""
        # ASCII digits only: str.isdigit() also passes '²', which int() refuses
        if not _STARTER_INDEX.fullmatch(index) or int(index) >= len(starters):
            raise ApiError(404, f"No starter drawing {index!r}; GET /api/starters lists them.")
        png = await run_in_threadpool(lambda: _png(starters.drawing(int(index))))
        return Response(png, media_type="image/png", headers={"cache-control": "max-age=3600"})

    @app.post("/api/translate")
    async def api_translate(request: Request) -> Response:
        """Translate the image in the body; the PNG result has the input's size."""
        start = time.perf_counter()
        query = request.query_params
        repeated = sorted({k for k in query if len(query.getlist(k)) > 1})
        if repeated:
            raise ApiError(422, f"Option(s) {', '.join(repeated)} given more than once.")
        options = parse_options(dict(query), translator.test_mode)
        data = await image_bytes_from_request(request, settings.max_upload_bytes)
        image = await run_in_threadpool(decode_image, data, settings.max_pixels)
        queued = time.perf_counter()
        try:
            result = await asyncio.wrap_future(worker.submit(image, options))
        except ValueError as e:  # the translator's input checks: channels, sizes
            raise ApiError(400, str(e)) from e
        waited = time.perf_counter() - queued - result.seconds
        png = await run_in_threadpool(encode_png, result.image)
        total = time.perf_counter() - start
        timing = (
            f"inference;dur={result.seconds * 1000:.1f}, queue;dur={max(waited, 0) * 1000:.1f}, "
            f"total;dur={total * 1000:.1f}"
        )
        headers = {
            "server-timing": timing,
            "x-batch-size": str(result.batch),
            "cache-control": "no-store",
        }
        return Response(png, media_type="image/png", headers=headers)

    app.add_middleware(SecurityMiddleware, settings=settings)
    return app
