"""The steward's district board with 10,000 open work orders, and dispatching 1,000 new ones.

Sets up its own SQLite database in a temporary directory (the demo plus generated work orders), then measures
one request for the board's first page (filtered by category), each in its own session, as a request has:
- through GraphQL in-process: the steward's bearer token resolved as the router does
  (accounts.resolve_session), then the page's selection executed and serialised; with SQL statements per request;
- the same page through the service function alone (tickets.service.list_board, no authentication);
- by hand-written SQL, the floor: the token resolved by one hand-written query (session, person, live grants),
  then the page by one hand-written query; and, for reference, that page query alone (`board_plain_page_only`);
- automatic dispatch of 1,000 new orders (skill, nearness, load).
`ratio:` last is the GraphQL request's throughput ÷ the hand-written request's (both authenticate, since a
page that says who may see it cannot be served without knowing who asks); `service_vs_plain_ratio` is the
service function ÷ the page query alone.

    python bench/tickets.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert, text
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.app import create_app
from laoyou.core.security import token_hash
from laoyou.core.settings import Settings
from laoyou.core.time import utcnow
from laoyou.estates.models import Community
from laoyou.graphql.context import Context
from laoyou.tickets import service as tickets
from laoyou.tickets.models import StaffProfile, WorkOrder

STEWARD = "+8613800000012"
OPERATIONS = Path(__file__).resolve().parent.parent / "pwa" / "operations" / "tickets.graphql"
# The board's list exactly as the steward's board page asks for it: its WorkOrderLine fragment.
_FRAGMENT = re.search(
    r"fragment WorkOrderLine on WorkOrder \{.*?\n\}\n", OPERATIONS.read_text(), re.DOTALL
).group(0)
BOARD = (
    _FRAGMENT
    + """
query Board($d: ID!) {
  workOrderBoard(districtId: $d, category: water, overdueOnly: false, first: 20) {
    nodes { ...WorkOrderLine }
    pageInfo { hasNextPage endCursor }
  }
}
"""
)
PLAIN = text(
    "SELECT w.id, w.kind, w.status, w.category, w.urgency, w.place, w.place_note, w.description, w.created_at, "
    "w.response_due_at, w.completion_due_at, w.is_open, w.escalation_level, w.household_id, w.hide_author, "
    "c.id AS cid, c.name AS cname, p.id AS pid, p.name AS pname "
    "FROM work_order w JOIN community c ON c.id = w.community_id LEFT JOIN person p ON p.id = w.assignee_id "
    "WHERE w.district_id = :d AND w.is_open = 1 AND w.category = 'water' ORDER BY w.id DESC LIMIT 21"
)
PLAIN_AUTH = text(
    "SELECT s.id, s.expires_at, p.id AS pid, p.is_active, g.role, g.district_id, g.community_id "
    "FROM auth_session s JOIN person p ON p.id = s.person_id "
    "LEFT JOIN role_grant g ON g.person_id = p.id AND g.revoked_at IS NULL "
    "WHERE s.token_hash = :t AND s.revoked_at IS NULL"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(quick: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="laoyou-bench-tickets-"))
    settings = Settings(
        mode="demo",
        data_dir=tmp,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        demo_households_scale=0.05,
    )
    app = create_app(settings)
    n_open = 2_000 if quick else 10_000
    n_dispatch = 200 if quick else 1_000
    rounds = 100 if quick else 400
    async with app.router.lifespan_context(app):
        maker = app.state.sessionmaker
        async with maker() as session:
            person = (await session.exec(select(Person).where(Person.phone == STEWARD))).first()
            actor = Actor(person=person, grants=await accounts.live_grants(session, person.id))
            district_id = actor.grants[0].district_id
            communities = list(
                await session.exec(select(Community.id).where(Community.district_id == district_id))
            )
            # A second and third worker, so dispatch has a choice.
            now = utcnow()
            rng = random.Random(4)
            cats = [
                "water",
                "electricity",
                "sewer",
                "lighting",
                "door_lock",
                "greenery",
                "cleanliness",
                "other",
            ]
            rows = []
            for i in range(n_open + n_dispatch):
                created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 20))
                rows.append(
                    {
                        "community_id": rng.choice(communities),
                        "district_id": district_id,
                        "kind": "repair",
                        "category": rng.choice(cats),
                        "urgency": "normal",
                        "status": "reported",
                        "is_open": True,
                        "place": "common",
                        "place_note": f"{i % 9 + 1}号楼",
                        "description": "bench",
                        "source": "patrol",
                        "reporter_name": "",
                        "reporter_phone": "",
                        "created_by_id": person.id,
                        "client_id": f"bench-{i}",
                        "hide_author": False,
                        "created_at": created,
                        "updated_at": created,
                        "response_due_at": created + timedelta(hours=2),
                        "completion_due_at": created + timedelta(hours=24),
                        "escalation_level": 0,
                        "official_visible": False,
                        "reopen_count": 0,
                        "rating_comment": "",
                        "return_visit_note": "",
                    }
                )
            for start in range(0, len(rows), 2000):
                await session.execute(insert(WorkOrder), rows[start : start + 2000])
            await session.commit()
            for k in range(2):
                extra = Person(phone=f"+861380000090{k}", name=f"师傅{k}")
                session.add(extra)
                await session.flush()
                session.add(
                    StaffProfile(
                        person_id=extra.id,
                        district_id=district_id,
                        skills=["plumbing", "cleaning"],
                        community_ids=communities[k::2],
                    )
                )
            await session.commit()
            new_ids = list(
                await session.exec(
                    select(WorkOrder.id)
                    .where(WorkOrder.district_id == district_id)
                    .order_by(WorkOrder.id.desc())
                    .limit(n_dispatch)
                )
            )
            token = (
                await accounts.do_start_session(
                    session,
                    settings=settings,
                    person=person,
                    kind="bearer",
                    method="password",
                    user_agent="bench",
                )
            ).token
            await session.commit()
        hashed = token_hash(token)

        statements = {"n": 0}

        @event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
        def _count(*_args):  # noqa: ANN002
            statements["n"] += 1

        schema = app.state.schema

        async def graphql_once() -> None:
            async with maker() as session:
                record, person, grants = await accounts.resolve_session(session, token)
                who = Actor(person=person, grants=grants, session_id=record.id, session_kind="bearer")
                context = Context(
                    settings=settings,
                    sessionmaker=maker,
                    pubsub=app.state.pubsub,
                    sms=app.state.sms,
                    actor=who,
                    language="zh_CN",
                    session=session,
                )
                result = await schema.execute(
                    BOARD, variable_values={"d": str(district_id)}, context_value=context
                )
                assert not result.errors, result.errors
                assert len(result.data["workOrderBoard"]["nodes"]) == 20

        async def service_once() -> None:
            async with maker() as session:
                who = Actor(person=actor.person, grants=actor.grants)
                page = await tickets.list_board(
                    session,
                    actor=who,
                    first=20,
                    after=None,
                    flt=tickets.BoardFilter(district_id=district_id, category="water"),
                )
                assert len(page.items) == 20

        async def plain_once() -> None:
            async with maker() as session:
                grants = (await session.execute(PLAIN_AUTH, {"t": hashed})).mappings().all()
                assert any(g["role"] == "steward" and g["district_id"] == district_id for g in grants)
                rows = (await session.execute(PLAIN, {"d": district_id})).mappings().all()
                assert len(rows) == 21

        async def plain_page_once() -> None:
            async with maker() as session:
                rows = (await session.execute(PLAIN, {"d": district_id})).mappings().all()
                assert len(rows) == 21

        statements["n"] = 0
        await graphql_once()
        per_query = statements["n"]
        # Interleaved, so that load from anything else on the machine falls on all three alike.
        gql_times, svc_times, plain_times, page_times = [], [], [], []
        measured = (
            (graphql_once, gql_times),
            (service_once, svc_times),
            (plain_once, plain_times),
            (plain_page_once, page_times),
        )
        for fn, _ in measured:
            for _ in range(10):
                await fn()
        for _ in range(rounds):
            for fn, times in measured:
                t0 = time.perf_counter()
                await fn()
                times.append(time.perf_counter() - t0)

        # Dispatch: one unit of work per order, as the steward's "choose automatically" does.
        t0 = time.perf_counter()
        dispatched = 0
        for order_id in new_ids:
            async with maker() as session:
                order = await session.get(WorkOrder, order_id)
                if await tickets.do_auto_dispatch(session, order=order):
                    dispatched += 1
                await session.commit()
        dispatch_seconds = time.perf_counter() - t0

    print(f"open_work_orders: {n_open + n_dispatch - dispatched} orders")
    print(f"board_graphql_p50: {statistics.median(gql_times) * 1000:.2f} ms")
    print(f"board_graphql_p95: {pct(gql_times, 0.95) * 1000:.2f} ms")
    print(f"board_graphql_sql_statements: {per_query} statements")
    print(f"board_service_p50: {statistics.median(svc_times) * 1000:.2f} ms")
    print(f"board_service_p95: {pct(svc_times, 0.95) * 1000:.2f} ms")
    print(f"board_plain_sql_p50: {statistics.median(plain_times) * 1000:.2f} ms")
    print(f"board_plain_sql_p95: {pct(plain_times, 0.95) * 1000:.2f} ms")
    print(f"board_plain_page_only_p50: {statistics.median(page_times) * 1000:.2f} ms")
    print(f"dispatch_orders: {dispatched} orders")
    print(f"dispatch_rate: {dispatched / dispatch_seconds:.1f} orders/s")
    print(f"service_vs_plain_ratio: {statistics.median(page_times) / statistics.median(svc_times):.3f}")
    print(f"graphql_vs_page_only_ratio: {statistics.median(page_times) / statistics.median(gql_times):.3f}")
    print(f"ratio: {statistics.median(plain_times) / statistics.median(gql_times):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
    sys.exit(0)
