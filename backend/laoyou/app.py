"""The FastAPI application: GraphQL, the PWA's pages and health, on one settings object."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from laoyou.accounts.sms import make_sms_sender
from laoyou.core.db import make_engine, make_sessionmaker
from laoyou.core.migrate import upgrade
from laoyou.core.pubsub import make_pubsub
from laoyou.core.settings import Settings, get_settings
from laoyou.graphql.persisted import PersistedOperations
from laoyou.graphql.router import make_graphql_router
from laoyou.graphql.schema import build_schema

log = logging.getLogger("laoyou")


def create_app(settings: Settings | None = None, *, load_demo: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    schema = build_schema(settings)
    persisted = PersistedOperations(settings.pwa_dir / "operations")

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        await upgrade(engine)
        if load_demo if load_demo is not None else settings.is_demo:
            from laoyou.demo.data import load_demo_if_empty

            await load_demo_if_empty(sessionmaker, scale=settings.demo_households_scale)
        app.state.ready = True
        log.info("Laoyou is ready (%s mode)", settings.mode)
        yield
        app.state.ready = False
        if hasattr(app.state.pubsub, "close"):
            await app.state.pubsub.close()
        await engine.dispose()

    app = FastAPI(title="Laoyou", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.pubsub = make_pubsub(settings)
    app.state.sms = make_sms_sender(settings)
    app.state.schema = schema
    app.state.persisted = persisted
    app.state.ready = False

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        if not app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok", "mode": settings.mode.value})

    app.include_router(make_graphql_router(schema, persisted, settings), prefix="/graphql")

    from laoyou.web.routes import install_web

    install_web(app)
    return app
