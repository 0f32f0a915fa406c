"""The FastAPI application: GraphQL, the PWA's pages and health, on one settings object."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette_compress import CompressMiddleware, remove_compress_type
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from laoyou.accounts import service as accounts
from laoyou.accounts.sms import make_sms_sender
from laoyou.billing.gateways.registry import PaySettings, check_pay_settings
from laoyou.core.db import make_engine, make_sessionmaker
from laoyou.core.metrics import MetricsMiddleware
from laoyou.core.migrate import upgrade
from laoyou.core.pubsub import make_pubsub
from laoyou.core.settings import Settings, get_settings
from laoyou.graphql.persisted import PersistedOperations
from laoyou.graphql.router import make_graphql_router
from laoyou.graphql.schema import build_schema
from laoyou.notify.reach.voice import voice_settings_problem

log = logging.getLogger("laoyou")

# An event stream is sent as it happens: compressed, a proxy on the way may hold it back until a block fills.
remove_compress_type("text/event-stream")


class LaoyouApp(FastAPI):
    """FastAPI, with the WebSocket to /graphql taken aside before FastAPI's own middleware (graphql/router.py
    GraphQLSockets says why); every other request and socket goes through the whole stack."""

    graphql_sockets: Any = None
    socket_proxy_headers: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.graphql_sockets is not None and scope["type"] == "websocket" and scope["path"] == "/graphql":
            scope["app"] = self  # as Starlette sets it: the context reads the app's state through it
            await self.socket_proxy_headers(scope, receive, send)
            await self.graphql_sockets(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, load_demo: bool | None = None) -> FastAPI:
    """The app for these settings; load_demo (tests) loads the demo data whatever the mode.

    Refuses (ValueError) what cannot run: in production the sandbox cashier; at startup, a production
    database that holds the demo's people.
    """
    settings = settings or get_settings()
    check_pay_settings(PaySettings(), production=settings.is_production)
    if settings.is_demo:
        from laoyou.demo.data import DEMO_PEOPLE

        accounts.register_demo_people(DEMO_PEOPLE)
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
        elif settings.is_production and await _holds_demo_people(sessionmaker):
            await engine.dispose()
            # A database made by `laoyou demo` would let anyone in with the demo's published staff password.
            raise ValueError(
                "this database holds the demo's people, whose staff password is public: production "
                "mode refuses it; use a new database (LAOYOU_DATABASE_URL or LAOYOU_DATA_DIR)"
            )
        try:
            await app.state.storage.start()  # the bucket is checked now, not at the first upload
        except BaseException:
            await engine.dispose()
            raise
        for name in settings.turned_off_in_production:
            log.warning("%s=false: a safe default of production mode is turned off", name)
        worker_task = _start_worker(app, settings)
        gc_pacing.start()
        app.state.ready = True
        log.info("Laoyou is ready (%s mode)", settings.mode)
        yield
        app.state.ready = False
        gc_pacing.stop()
        await _stop_worker(app, worker_task)
        await app.state.storage.close()
        if hasattr(app.state.pubsub, "close"):
            await app.state.pubsub.close()
        await app.state.sms.aclose()
        await engine.dispose()

    app = LaoyouApp(title="Laoyou", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.pubsub = make_pubsub(settings)
    app.state.sms = make_sms_sender(settings)
    # The worker places the calls, but every process refuses a voice provider it could not use, at start.
    if problem := voice_settings_problem(settings):
        raise ValueError(problem)
    app.state.schema = schema
    app.state.persisted = persisted
    app.state.ready = False
    from laoyou.notify.vapid import signer_for

    app.state.vapid = signer_for(settings)

    from laoyou.web import ops

    ops.install(app)
    graphql = make_graphql_router(schema, persisted, settings)
    app.include_router(graphql, prefix="/graphql")

    from laoyou.web.routes import install_web

    install_web(app)
    from laoyou.core.logs import RequestLog
    from laoyou.graphql.router import GraphQLSockets
    from laoyou.web.edge import BodyLimits, SecurityHeaders

    app.add_middleware(BodyLimits)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    # Outside the metrics, so the line it logs per request times what the metrics cost too.
    app.add_middleware(RequestLog, secret_key=settings.secret_key)
    add_compression(app)
    # Outermost, so rate limits, logs and pages all see the client the listed proxies name; X-Forwarded-For
    # from any other address is ignored. (uvicorn's own proxy_headers is off: this is the only place.)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # The live socket's chain: the same proxy headers, request log and metrics, and nothing else. The proxy
    # headers middleware rewrites the scope in place (the client and scheme a trusted proxy names), so it runs
    # over nothing and returns, rather than staying suspended in every socket for its life.
    app.socket_proxy_headers = ProxyHeadersMiddleware(_scope_only, trusted_hosts=settings.trusted_proxies)
    app.graphql_sockets = RequestLog(
        MetricsMiddleware(GraphQLSockets(graphql), metrics=app.state.metrics), settings.secret_key
    )
    return app


async def _scope_only(scope: dict, receive: Any, send: Any) -> None:
    """The end of a middleware that is run only for what it does to the scope."""


def add_compression(app: Starlette) -> None:
    """Brotli, else gzip, for what the client accepts. Only text types are on starlette-compress's list, so
    photos, voice notes and videos (already compressed) pass as they are, and so do event streams (above);
    WebSockets are not HTTP and pass too. Brotli at quality 4 costs about what gzip does and makes smaller
    pages; zstd is off: Safari and WeChat's WebView do not ask for it, and one coding fewer is one path fewer."""
    app.add_middleware(
        CompressMiddleware,
        zstd=False,
        brotli=True,
        brotli_quality=4,
        gzip=True,
        gzip_level=6,
        minimum_size=500,
    )


async def _holds_demo_people(sessionmaker) -> bool:  # noqa: ANN001
    from laoyou.demo.data import demo_people_present

    async with sessionmaker() as session:
        return await demo_people_present(session)


class GcPacing:
    """Keep the cycle collector's full passes short, so they do not stall every open connection at once.

    A server holds a large, long-lived heap: the schema and the modules, and for every open WebSocket a few
    hundred objects (its handler's tasks, coroutines and closures, the subscription's generators). CPython's
    full collection walks all of it whenever enough new objects have reached the oldest generation, which
    with a thousand subscribers meant 300-500 ms with the event loop stopped every 20-30 s, and every chat
    message in flight late by that much. (`gc.freeze()` once after startup is not enough: the connections
    come later.)

    So what survives a full collection is frozen (`gc.freeze()`): the next full collection walks only what
    came since, a few milliseconds' worth. Freezing is not free: a frozen cycle that becomes garbage (a closed
    connection's coroutines and frames) is only reclaimed once unfrozen. So when the frozen heap has grown to
    twice what the last walk of everything left, the next full collection unfreezes first and walks it all
    (the one long pause, as rare as the heap doubling). Memory stays within about twice what is live. The
    young generations are collected as before; full collections come after 100 young-generation passes
    instead of 10, since each walks what is alive and new (mostly the same few thousand objects of events in
    flight) and running it more often only repeats that walk.
    """

    GROWTH = 2.0  # walk everything once the frozen heap is this many times what the last such walk left
    FULL_AFTER = 100  # generation-1 collections between full collections (CPython's default: 10)

    def __init__(self) -> None:
        self.users = 0
        self.base = 0  # objects frozen right after the last collection that walked everything
        self.walking_all = False
        self.thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        self.users += 1
        if self.users > 1:  # one process, one collector: several apps (tests) share the pacing
            return
        gc.collect()
        gc.freeze()  # startup's modules, schema and metadata: never walked again
        self.base = gc.get_freeze_count()
        self.thresholds = gc.get_threshold()
        gc.set_threshold(self.thresholds[0], self.thresholds[1], self.FULL_AFTER)
        gc.callbacks.append(self._pace)

    def stop(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self._pace in gc.callbacks:
            gc.callbacks.remove(self._pace)
        if self.thresholds is not None:
            gc.set_threshold(*self.thresholds)
        gc.unfreeze()

    def _pace(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            if gc.get_freeze_count() > self.GROWTH * max(self.base, 1):
                gc.unfreeze()  # this collection reclaims the frozen cycles that died meanwhile
                self.walking_all = True
            return
        gc.freeze()
        if self.walking_all:
            self.base = gc.get_freeze_count()
            self.walking_all = False


gc_pacing = GcPacing()


def _start_worker(app: FastAPI, settings: Settings):  # noqa: ANN202
    """Embedded mode: push sending and scheduled jobs run as a task of this process (else `laoyou worker`)."""
    if settings.worker != "embedded":
        return None
    import asyncio

    from laoyou.briefings import service as briefings
    from laoyou.care.sensors import listener as sensor_listener
    from laoyou.notify.reach.sender import make_reach_sender
    from laoyou.notify.worker import Worker

    # Its own engine (a small pool): the worker only ever sees committed rows, and its statements never mix
    # with a request's.
    app.state.worker_engine = make_engine(settings)
    app.state.worker = Worker(
        sessionmaker=make_sessionmaker(app.state.worker_engine),
        pubsub=app.state.pubsub,
        signer=app.state.vapid,
        publish_due=briefings.do_publish_due,
        reach=make_reach_sender(
            make_sessionmaker(app.state.worker_engine), settings, sms=app.state.sms, metrics=app.state.metrics
        ),
        shares_loop=True,
    )
    app.state.worker_stop = asyncio.Event()
    from laoyou.core.jobs import run_periodic
    from laoyou.jobs import load_domain_jobs

    load_domain_jobs()

    async def work() -> None:
        await asyncio.gather(
            app.state.worker.run(app.state.worker_stop),
            run_periodic(
                app.state.worker.sessionmaker,
                app.state.pubsub,
                app.state.worker_stop,
                scale=settings.jobs_interval_scale,
                metrics=app.state.metrics,
                shares_loop=True,
            ),
            sensor_listener.listen(
                settings, app.state.worker.sessionmaker, app.state.pubsub, app.state.worker_stop
            ),
        )

    return asyncio.create_task(work(), name="laoyou-worker")


async def _stop_worker(app: FastAPI, task) -> None:  # noqa: ANN001
    if task is None:
        return
    import asyncio
    import contextlib

    app.state.worker_stop.set()
    try:
        await asyncio.wait_for(task, timeout=5)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app.state.worker.close()
    await app.state.worker_engine.dispose()
