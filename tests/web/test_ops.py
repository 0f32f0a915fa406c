"""/healthz, /readyz and /metrics for the operator's machines, and what a person sees when the database is down."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx

from laoyou.app import create_app

from ..conftest import login_demo, make_database_url, make_settings, started


def client(app: Any, address: str = "127.0.0.1", **options: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **options)


def closed_port() -> int:
    """A port nothing listens on: the database that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_alive_and_ready_are_separate_and_each_part_is_named(app) -> None:
    async with client(app) as http:
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert alive.status_code == 200 and alive.json()["status"] == "ok"
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok",
        "started": True,
        "database": True,
        "pubsub": True,
        "migrations": True,
    }


async def test_metrics_count_routes_by_template_and_operations_by_name(app, gql) -> None:
    resident = await login_demo(gql, "13800000001")
    await resident("query Viewer { viewer { person { name } } }")
    async with client(app) as http:
        assert (await http.get("/payments/12345")).status_code in (303, 404)
        text = (await http.get("/metrics")).text
    # Routes by their template, never by the path a client sent, so the series stay few
    assert re.search(
        r'laoyou_http_requests_total\{method="GET",route="/payments/\{payment_id\}",status="[34]xx"\}', text
    )
    assert "/payments/12345" not in text
    assert re.search(r'laoyou_graphql_operation_seconds_count\{operation="Viewer"\} [1-9]', text)
    # Figures read from the database at scrape time
    assert re.search(r'laoyou_payments\{state="paid"\} \d', text)
    assert re.search(r"laoyou_push_outbox_depth \d", text)
    assert "laoyou_websockets_open" in text and "laoyou_job_runs" in text


async def test_metrics_are_for_this_machine_or_the_holder_of_the_token(tmp_path, backend, request) -> None:
    backend_url = make_database_url(backend, tmp_path, request)
    async with started(make_settings(tmp_path, backend_url)) as app:
        # No token set: only this machine may read them
        async with client(app, "10.9.8.7") as http:
            assert (await http.get("/metrics")).status_code == 404
        async with client(app) as http:
            assert (await http.get("/metrics")).status_code == 200
            # A proxy on this machine passes everyone's requests from loopback, naming who asked: refused
            for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
                proxied = await http.get("/metrics", headers={header: "203.0.113.9"})
                assert proxied.status_code == 404, header
    async with started(make_settings(tmp_path, backend_url, metrics_token="scrape-me-0123456789")) as app:
        # A token set: everyone needs it, this machine too
        for address in ("127.0.0.1", "10.9.8.7"):
            async with client(app, address) as http:
                assert (await http.get("/metrics")).status_code == 404
                wrong = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
                assert wrong.status_code == 404
                right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
                assert right.status_code == 200 and "laoyou_http_requests_total" in right.text


async def test_a_database_that_is_down_gives_a_plain_try_again_not_the_drivers_words(tmp_path) -> None:
    # Given an app whose PostgreSQL does not answer (never started: no lifespan can run)
    url = f"postgresql+asyncpg://laoyou:x@127.0.0.1:{closed_port()}/laoyou"
    app = create_app(make_settings(tmp_path, url))
    headers = {"Authorization": "Bearer some-session", "Accept-Language": "zh-CN"}
    async with client(app, headers=headers) as http:
        # Then a page says, in her language, to try again later, with the emergency numbers
        page = await http.get("/bills")
        assert page.status_code == 503 and page.headers["retry-after"] == "30"
        assert "请过几分钟再试" in page.text and "120" in page.text and "119" in page.text
        assert "refused" not in page.text.lower() and "Errno" not in page.text
        # And the API says the same as an error a program can read
        api = await http.post("/graphql", json={"query": "{ viewer { name } }"})
        assert api.status_code == 503
        assert api.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert "refused" not in api.text.lower()
    # And a mutation that reaches the database only inside its resolver says the same, in the caller's language
    async with client(app, headers={"Accept-Language": "en"}) as http:
        mutation = 'mutation { requestLoginCode(phone: "13800000001") { __typename } }'
        failed = (await http.post("/graphql", json={"query": mutation})).json()
        assert failed["errors"][0]["message"] == "Please try again in a few minutes."
        assert failed["errors"][0]["extensions"] == {"code": "UNAVAILABLE"}
        # And /readyz names the database, while /healthz only says the process is not serving yet
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] is False
    await app.state.engine.dispose()
