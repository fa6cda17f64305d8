"""LiverLens with a warm start and a readiness route: ``python serve.py`` or ``streamlit run serve.py``.

Why a second entry point: ``streamlit run streamlit_app.py`` runs no code until the first browser
opens the app, so its warm-up starts then. Here the app is a Streamlit ``st.App`` (ASGI) whose
lifespan starts the warm-up (:mod:`dashboard.warmup`) when the server starts, and which answers
``GET /ready`` for a load balancer or a start script:

* 503 while warming: ``{"state": "warming", "models_done": 2, "models_total": 4, "step": ...}``
* 200 when every model is loaded and traced (``"state": "ready"``)
* 500 when the warm-up failed for some model (``"state": "failed"``, ``"errors"``)
* 200 with ``"state": "off"`` when ``LIVERLENS_WARMUP=0`` switched the warm-up off

The pages are the same ``streamlit_app.py``. Command-line options work as with ``streamlit run``
(``streamlit run serve.py --server.port 8080``); ``python serve.py`` reads ``.streamlit/config.toml``
and the ``STREAMLIT_*`` environment variables. ``st.App`` is experimental in Streamlit 1.67.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dashboard import warmup


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Start the warm-up with the server; it runs in its own thread, so serving starts at once."""
    warmup.start()
    yield


async def ready(_request: Request) -> JSONResponse:
    """The warm-up's progress as JSON, with a status a health check can act on."""
    snapshot = warmup.progress()
    return JSONResponse(snapshot.as_dict(), status_code=snapshot.http_status)


app = st.App("streamlit_app.py", lifespan=lifespan, routes=[Route("/ready", ready, methods=["GET"])])

if __name__ == "__main__":
    app.run()
