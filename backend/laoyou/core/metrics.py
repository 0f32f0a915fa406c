"""Prometheus metrics: what each request, GraphQL operation, WebSocket and job costs, for /metrics.

Each app has a registry of its own (prometheus_client's default one is global to the process, and tests build
many apps in one process). Requests are labelled by their route's template (`/bills/{bill_id}`), never by the
path a client sent, and GraphQL requests by their operation's name, so the number of series stays bounded.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laoyou.core import logs

# The request being measured, for the GraphQL layer below to name its operation; a dict, so what is written
# into it is seen by the middleware whatever context the handler ran in.
_current: ContextVar[dict[str, Any] | None] = ContextVar("laoyou_metrics_request", default=None)

# Seconds: a page or an operation is answered in tens of milliseconds; three seconds is already a failure.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def name_operation(operation: str | None) -> None:
    """Called by the GraphQL layer: the request being measured ran this operation."""
    request = _current.get()

    if request is not None and operation:
        request["operation"] = operation[:60]
    if operation:
        logs.note(operation=operation[:60])  # and the request's log lines say it


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "laoyou_http_requests",
            "HTTP requests answered, by route template, method and status class",
            ("route", "method", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "laoyou_http_request_seconds",
            "time to answer an HTTP request, by route template",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.operations = Histogram(
            "laoyou_graphql_operation_seconds",
            "time to answer a GraphQL request, by operation name",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "laoyou_http_errors",
            "requests answered 5xx or failed with an exception, by route template",
            ("route",),
            registry=registry,
        )
        self.websockets = Gauge("laoyou_websockets_open", "WebSockets open now", registry=registry)
        self.jobs = Counter(
            "laoyou_job_runs",
            "periodic job runs, by job and outcome (ok, failed)",
            ("job", "outcome"),
            registry=registry,
        )
        self.reach_sends = Counter(
            "laoyou_reach_sends",
            "notices' climb steps sent on WeChat, SMS and voice, by channel and outcome",
            ("channel", "outcome"),
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "laoyou_push_outbox_depth", "push deliveries waiting to be sent", registry=registry
        )
        self.outbox_age = Gauge(
            "laoyou_push_outbox_oldest_seconds", "age of the oldest push delivery waiting", registry=registry
        )
        self.payments = Gauge("laoyou_payments", "payments by state", ("state",), registry=registry)
        self.pool_checked_out = Gauge(
            "laoyou_db_pool_checked_out", "database connections in use", registry=registry
        )
        self.pool_size = Gauge(
            "laoyou_db_pool_size", "database connections held by the pool", registry=registry
        )


class MetricsMiddleware:
    """Pure ASGI (no task of its own, so streaming and WebSockets pass untouched): counts and times HTTP
    requests, and counts WebSockets while they are open."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            self.metrics.websockets.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.metrics.websockets.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        measured: dict[str, Any] = {"status": 500}
        token = _current.set(measured)
        started = time.perf_counter()

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                measured["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            measured["status"] = 500
            raise
        finally:
            _current.reset(token)
            elapsed = time.perf_counter() - started
            # strawberry's router answers /graphql without naming a route in the scope
            route = getattr(scope.get("route"), "path", None) or (
                "/graphql" if scope["path"] == "/graphql" else "unrouted"
            )
            status = measured["status"]
            self.metrics.requests.labels(route, scope["method"], f"{status // 100}xx").inc()
            self.metrics.latency.labels(route).observe(elapsed)
            if status >= 500:
                self.metrics.errors.labels(route).inc()
            if "operation" in measured and route == "/graphql":  # a page runs several, for itself
                self.metrics.operations.labels(measured["operation"]).observe(elapsed)
