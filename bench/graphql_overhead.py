"""What GraphQL costs on the resident home page.

The resident home query (pwa/operations/home.graphql, ResidentHome, sent by its persisted hash) over real
HTTP on loopback, against a plain FastAPI JSON endpoint in the same app doing the same reads with
hand-written SQL and the same session lookup. Prints requests per second of each, SQL statements per home
query, and `ratio:` (GraphQL ÷ plain) last.

    python bench/graphql_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import event, text

from laoyou.app import create_app
from laoyou.core.settings import Settings
from laoyou.graphql.router import bearer_token

RESIDENT = "13800000001"

PLAIN_HOME_SQL = text(
    """
    SELECT h.id, h.head_name, u.number, u.floor, u.floor_area_centi_m2, b.name AS building,
           c.id AS community_id, c.name AS community, c.address, c.on_duty_phone, c.attached_to_id,
           d.id AS district_id, d.name AS district, d.operator_name, d.operator_phone
    FROM role_grant g
    JOIN household h ON h.id = g.household_id
    JOIN unit u ON u.id = h.unit_id
    JOIN building b ON b.id = u.building_id
    JOIN community c ON c.id = h.community_id
    JOIN district d ON d.id = c.district_id
    WHERE g.person_id = :person AND g.revoked_at IS NULL AND g.role IN ('resident', 'family')
    ORDER BY h.id
    """
)
PLAIN_STEWARDS_SQL = text(
    """
    SELECT p.id, p.name, p.phone, g.on_duty FROM role_grant g JOIN person p ON p.id = g.person_id
    WHERE g.role = 'steward' AND g.revoked_at IS NULL
      AND (g.community_id = :community OR (g.community_id IS NULL AND g.district_id = :district))
    ORDER BY g.on_duty DESC, g.id
    """
)

NOTIFICATIONS_SQL = text(
    "SELECT id, title, body, link, created_at, read_at FROM notification WHERE person_id = :person "
    "ORDER BY id DESC LIMIT 5"
)


def add_plain_endpoint(app) -> None:  # noqa: ANN001
    """The floor: the same reads as ResidentHome, by hand, behind the same session lookup."""
    from laoyou.accounts import service as accounts

    @app.get("/bench/plain-home")
    async def plain_home(request: Request) -> JSONResponse:
        async with app.state.sessionmaker() as session:
            found = await accounts.resolve_session(session, bearer_token(request))
            if not found:
                return JSONResponse({"error": "login"}, status_code=401)
            _, person, _ = found
            unread = await accounts.unread_count(session, person.id)
            notifications = [
                {
                    "id": str(n.id),
                    "title": n.title,
                    "body": n.body,
                    "link": n.link,
                    "read": n.read_at is not None,
                }
                for n in (await session.execute(NOTIFICATIONS_SQL, {"person": person.id})).mappings()
            ]
            households = []
            for row in (await session.execute(PLAIN_HOME_SQL, {"person": person.id})).mappings():
                stewards = [
                    {"id": str(s.id), "name": s.name, "phone": s.phone[3:], "onDuty": bool(s.on_duty)}
                    for s in (
                        await session.execute(
                            PLAIN_STEWARDS_SQL,
                            {"community": row["community_id"], "district": row["district_id"]},
                        )
                    ).mappings()
                ]
                area = row["floor_area_centi_m2"]
                households.append(
                    {
                        "id": str(row["id"]),
                        "headName": row["head_name"],
                        "address": f"{row['community']} {row['building']} {row['number']}",
                        "unit": {
                            "number": row["number"],
                            "floor": row["floor"],
                            "floorArea": {"squareMetres": f"{area // 100}.{area % 100:02d}"},
                            "building": {"name": row["building"]},
                        },
                        "community": {
                            "id": str(row["community_id"]),
                            "name": row["community"],
                            "address": row["address"],
                            "onDutyPhone": row["on_duty_phone"][3:],
                            "attachedTo": None,
                            "district": {
                                "id": str(row["district_id"]),
                                "name": row["district"],
                                "operatorName": row["operator_name"],
                                "operatorPhone": row["operator_phone"][3:],
                            },
                            "stewards": stewards,
                        },
                    }
                )
            return JSONResponse(
                {
                    "data": {
                        "viewer": {
                            "unreadNotifications": unread,
                            "notifications": notifications,
                            "person": {"id": str(person.id), "name": person.name},
                            "households": households,
                        }
                    }
                }
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def load(
    client: httpx.AsyncClient, make_request, seconds: float, concurrency: int
) -> tuple[int, float]:  # noqa: ANN001
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await make_request(client)
            assert response.status_code == 200, response.text
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - start


async def main(quick: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="laoyou-bench-"))
    settings = Settings(
        mode="demo",
        data_dir=tmp,
        demo_households_scale=0.05,
        secret_key="bench-secret-key-0123456789-0123456789",
    )
    app = create_app(settings)
    add_plain_endpoint(app)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        login = await client.post(
            "/graphql",
            json={
                "query": "mutation($p:String!){loginAsDemoPerson(phone:$p,sessionKind:BEARER){... on LoggedIn{token}}}",
                "variables": {"p": RESIDENT},
            },
        )
        token = login.json()["data"]["loginAsDemoPerson"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        digest = app.state.persisted["ResidentHome"].sha256
        body = {
            "operationName": "ResidentHome",
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        }

        async def graphql_home(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post("/graphql", json=body, headers=headers)

        async def plain_home(c: httpx.AsyncClient) -> httpx.Response:
            return await c.get("/bench/plain-home", headers=headers)

        # Same data from both, or the comparison means nothing.
        g = (await graphql_home(client)).json()["data"]["viewer"]
        p = (await plain_home(client)).json()["data"]["viewer"]
        assert [h["address"] for h in g["households"]] == [h["address"] for h in p["households"]]
        assert g["households"][0]["community"]["stewards"] == p["households"][0]["community"]["stewards"]

        statements = 0

        def count(*_args) -> None:  # noqa: ANN002
            nonlocal statements
            statements += 1

        event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
        await graphql_home(client)
        graphql_statements, statements = statements, 0
        await plain_home(client)
        plain_statements = statements
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", count)

        seconds = 3.0 if quick else 15.0
        concurrency = 8
        await load(client, graphql_home, 1.0, concurrency)  # warm up
        await load(client, plain_home, 1.0, concurrency)
        g_done, g_time = await load(client, graphql_home, seconds, concurrency)
        p_done, p_time = await load(client, plain_home, seconds, concurrency)

    server.should_exit = True
    thread.join(timeout=10)
    graphql_rps = g_done / g_time
    plain_rps = p_done / p_time
    print(f"graphql_home_requests: {g_done} requests")
    print(f"graphql_home_throughput: {graphql_rps:.1f} requests/s")
    print(f"plain_home_throughput: {plain_rps:.1f} requests/s")
    print(f"graphql_sql_statements_per_home_query: {graphql_statements} statements")
    print(f"plain_sql_statements_per_home_query: {plain_statements} statements")
    print(f"concurrency: {concurrency} clients")
    print(f"ratio: {graphql_rps / plain_rps:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    asyncio.run(main(parser.parse_args().quick))
    sys.exit(0)
