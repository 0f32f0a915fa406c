"""A district's morning peak: the embedded mode against the scale-out mode on this machine.

One district of 10,000 households (the demo's Xiushan Garden at LAOYOU_DEMO_HOUSEHOLDS_SCALE=10; --quick: 1,000).
Virtual residents, one per household with a session of their own, go through their morning: open home, look at
their bills, pay one (PayBills, then the sandbox cashier's confirm, which settles it through the gateway's
notification), write to the steward (SendChatMessage), and one in four reports a problem with a photo (POST /media,
then ReportProblem); one request in eight is a steward's, working the board (StewardBoard, SupportConsole).
Meanwhile residents sit on open WebSockets (TodaysBriefingsLive) and the stewards on their queue
(SupportQueueLive). What failed, and each kind's slowest request per step, go to stderr.

Two modes, the same load, each on data built once:
- embedded: one `laoyou demo` process on SQLite, its jobs and push sender inside it;
- scale-out: two app processes and a `laoyou worker` on a throwaway PostgreSQL cluster (LISTEN/NOTIFY pub/sub);
  the virtual people alternate between the two ports (a load balancer's round robin without its cost).

The load is open-loop: requests start on a fixed schedule whatever the server's pace, and each one's latency counts
from when it was due, so a slow server cannot slow the load down. The offered rate goes up in steps; for each step
the p50/p99 and the rate actually served are printed, and the mode's sustained rate is the best served rate of a
step with p99 ≤ 300 ms and under 1% errors; the climb goes on until a step breaks that (`_ceiling: found`) or 8
passing steps (12 full size) have run. `ratio:` last is scale-out ÷ embedded (what running distributed costs
on one machine; goal ≥ 0.8).

    python bench/district.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

import httpx  # noqa: E402
import websockets  # noqa: E402
from PIL import Image  # noqa: E402
from sqlmodel import col, select  # noqa: E402
from tests.pg import PostgresCluster  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

from laoyou.accounts.models import AuthSession, RoleGrant  # noqa: E402
from laoyou.core.db import make_engine, make_sessionmaker  # noqa: E402
from laoyou.core.security import new_token, token_hash  # noqa: E402
from laoyou.core.settings import Settings  # noqa: E402
from laoyou.core.time import utcnow  # noqa: E402
from laoyou.estates.models import Community  # noqa: E402
from laoyou.graphql.persisted import PersistedOperations  # noqa: E402

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
XIUSHAN = "秀山花园"
STEWARDS = ("13800000011", "13800000031")  # Xiushan's steward and its support agent
LOGIN = """mutation ($phone: String!) { loginAsDemoPerson(phone: $phone, sessionKind: BEARER) {
  ... on LoggedIn { token } } }"""
OPERATIONS = PersistedOperations(ROOT / "pwa" / "operations")
P99_GOAL = 0.300
MAX_ERRORS = 0.01


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def photo() -> bytes:
    """A phone photo's worth of JPEG (noise, so it does not compress to nothing)."""
    image = Image.frombytes("RGB", (480, 360), random.Random(7).randbytes(480 * 360 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


PHOTO = photo()


def persisted(name: str, variables: dict | None = None) -> dict:
    """A request for one of the PWA's persisted operations, sent by its hash as the PWA sends it."""
    return {
        "operationName": name,
        "variables": variables or {},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": OPERATIONS[name].sha256}},
    }


# --- the two modes -----------------------------------------------------------------------------------------


class Mode:
    """The processes of one mode, started on data loaded once, and stopped at the end."""

    def __init__(self, name: str, scale: float) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"laoyou-bench-district-{name}-"))
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.cluster: PostgresCluster | None = None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "backend"),
            "LAOYOU_MODE": "demo",
            "LAOYOU_DATA_DIR": str(self.dir),
            "LAOYOU_SECRET_KEY": SECRET,
            "LAOYOU_DEMO_HOUSEHOLDS_SCALE": str(scale),
            "LAOYOU_UPLOADS_PER_PERSON_HOUR": "100000",
            "LAOYOU_LOG_LEVEL": "warning",
        }

    def settings(self) -> Settings:
        url = self.env.get("LAOYOU_DATABASE_URL")
        return Settings(
            mode="demo", data_dir=self.dir, secret_key=SECRET, **({"database_url": url} if url else {})
        )

    def _spawn(self, *command: str) -> subprocess.Popen:
        log = open(self.dir / f"{command[0]}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-c", "from laoyou.cli import app; app()", *command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def _app(self, command: str) -> None:
        port = free_port()
        process = self._spawn(command, "--port", str(port))
        deadline = time.monotonic() + 1800  # the full demo at scale 10 takes a while to load
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name}: `laoyou {command}` exited; see {self.dir}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    self.ports.append(port)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: `laoyou {command}` did not start")

    def _worker(self) -> None:
        log = self.dir / f"worker-{len(self.processes)}.log"
        process = self._spawn("worker")
        deadline = time.monotonic() + 120
        while b"worker running" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: `laoyou worker` did not start; see {log}")
            time.sleep(0.2)

    def _cpu_seconds(self) -> float:
        """The CPU time the mode's processes have used so far (from Linux's /proc)."""
        total = 0
        for process in self.processes:
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def _settle(self) -> None:
        """Wait until the processes are done starting (imports, their jobs' first rounds): the load is measured
        against a mode that is up, not against the worker still loading every domain on one of the two cores
        (it did so through the scale-out mode's warm-up and first step)."""
        deadline = time.monotonic() + 120
        used = self._cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(1)
            used, before = self._cpu_seconds(), used
            if used - before < 0.1:
                return

    def start(self) -> Mode:
        if self.name == "embedded":
            self._app("demo")
            self._settle()
            return self
        self.cluster = PostgresCluster().start()
        self.env |= {
            "LAOYOU_DATABASE_URL": self.cluster.create_database("laoyou_bench"),
            "LAOYOU_PUBSUB": "postgres",
            "LAOYOU_WORKER": "external",
        }
        self._app("demo")  # the first loads the demo alone, then the second joins it
        self._app("serve")
        self._worker()
        self._settle()
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self.cluster is not None:
            self.cluster.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the people ------------------------------------------------------------------------------------------


@dataclass
class Resident:
    token: str
    household_id: int
    community_id: int
    port: int
    steps: list[str] = field(default_factory=lambda: ["home", "bills", "pay", "chat"])
    bill_id: str | None = None
    pay_url: str | None = None
    photo_id: str | None = None
    busy: bool = False


async def make_residents(mode: Mode, count: int) -> list[Resident]:
    """Sessions for the district's residents, written straight into the database (the bench's own data)."""
    engine = make_engine(mode.settings())
    try:
        async with make_sessionmaker(engine)() as session:
            community_id = (await session.exec(select(Community.id).where(Community.name == XIUSHAN))).one()
            grants = list(
                await session.exec(
                    select(RoleGrant)
                    .where(
                        RoleGrant.community_id == community_id,
                        RoleGrant.role == "resident",
                        col(RoleGrant.revoked_at).is_(None),
                    )
                    .order_by(RoleGrant.id)
                )
            )
            # One per household: two people paying the same bill at once is refused, as it should be
            households = {}
            for grant in grants:
                households.setdefault(grant.household_id, grant)
            residents = []
            for n, grant in enumerate(list(households.values())[:count]):
                token = new_token()
                session.add(
                    AuthSession(
                        person_id=grant.person_id,
                        token_hash=token_hash(token),
                        kind="bearer",
                        method="code",
                        expires_at=utcnow() + timedelta(days=1),
                    )
                )
                resident = Resident(token, grant.household_id, community_id, mode.ports[n % len(mode.ports)])
                if n % 4 == 0:  # one in four has something to report, with a photo
                    resident.steps.insert(3, "photo")
                residents.append(resident)
            await session.commit()
            return residents
    finally:
        await engine.dispose()


@dataclass
class Step:
    """One offered rate's results."""

    offered: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    done: int = 0
    elapsed: float = 0.0  # from the first request's start to the last one's end
    failures: Counter = field(default_factory=Counter)  # what went wrong, for stderr


class Load:
    def __init__(self, mode: Mode, residents: list[Resident], stewards: list[tuple[str, int]], district: str):
        self.mode = mode
        self.residents = residents
        self.stewards = stewards
        self.district = district
        self.clients = {
            port: httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                timeout=30,
                limits=httpx.Limits(max_connections=300, max_keepalive_connections=300),
            )
            for port in mode.ports
        }
        self.cursor = 0
        self.events = 0
        self.slowest: Counter = Counter()  # seconds, the slowest request of each kind, for stderr

    async def graphql(self, port: int, token: str, body: dict) -> dict:
        response = await self.clients[port].post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise RuntimeError(payload["errors"][0].get("message"))
        return payload["data"]

    async def resident_step(self, r: Resident) -> None:
        step = r.steps[0]
        started = time.monotonic()
        try:
            await self._resident_step(r)
        finally:
            self.slowest[step] = max(self.slowest[step], time.monotonic() - started)

    async def _resident_step(self, r: Resident) -> None:
        step = r.steps[0]
        r.steps.append(r.steps.pop(0))
        if step == "home":
            await self.graphql(r.port, r.token, persisted("ResidentHome"))
        elif step == "bills":
            data = await self.graphql(r.port, r.token, persisted("MyBillsPage"))
            open_bills = [
                b for b in data["myBills"] if b["outstanding"]["fen"] > 0 and not b["waitingPayment"]
            ]
            r.bill_id = open_bills[0]["id"] if open_bills else None
        elif step == "pay" and r.bill_id:
            variables = {"billIds": [r.bill_id], "idempotencyKey": uuid.uuid4().hex, "method": "sandbox"}
            data = await self.graphql(r.port, r.token, persisted("PayBills", variables))
            if data["payBills"]["__typename"] != "PaymentSaved":
                raise RuntimeError(str(data["payBills"]))
            r.pay_url = httpx.URL(data["payBills"]["payment"]["payUrl"]).path
            r.bill_id = None
            r.steps.insert(0, "cashier")
        elif step == "cashier":
            r.steps.remove("cashier")
            response = await self.clients[r.port].post(
                r.pay_url,
                data={"csrf_token": "bench"},
                headers={"Authorization": f"Bearer {r.token}", "Cookie": "laoyou_csrf=bench"},
            )
            if response.status_code != 303:
                raise RuntimeError(f"cashier: {response.status_code}")
        elif step == "photo":
            response = await self.clients[r.port].post(
                "/media",
                files={"file": ("photo.jpg", PHOTO, "image/jpeg")},
                data={"community_id": str(r.community_id), "client_id": uuid.uuid4().hex},
                headers={"Authorization": f"Bearer {r.token}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"upload: {response.status_code} {response.text[:200]}")
            r.photo_id = response.json()["id"]
            r.steps.insert(0, "report")
        elif step == "report":
            r.steps.remove("report")
            variables = {
                "input": {
                    "clientId": uuid.uuid4().hex,
                    "category": "water",
                    "householdId": str(r.household_id),
                    "description": "厨房水管漏水",
                    "photoIds": [r.photo_id],
                }
            }
            data = await self.graphql(r.port, r.token, persisted("ReportProblem", variables))
            if data["reportProblem"]["__typename"] != "WorkOrderReported":
                raise RuntimeError(str(data["reportProblem"]))
        elif step == "chat":
            variables = {"clientId": uuid.uuid4().hex, "body": "早上好，请问水什么时候来？"}
            variables["householdId"] = str(r.household_id)
            data = await self.graphql(r.port, r.token, persisted("SendChatMessage", variables))
            if data["sendChatMessage"]["__typename"] != "ChatMessageSent":
                raise RuntimeError(str(data["sendChatMessage"]))
        else:  # paying with nothing left to pay: she looks at home again
            await self.graphql(r.port, r.token, persisted("ResidentHome"))

    async def steward_step(self, n: int) -> None:
        # Turn about (by n // 8: n itself is always 7 modulo 8, its parity picked the agent every time), the
        # steward works the board and the support agent the console, each on the port it logged in at.
        which = (n // 8) % len(self.stewards)
        token, port = self.stewards[which]
        step = "console" if which else "board"
        started = time.monotonic()
        try:
            if step == "console":
                await self.graphql(port, token, persisted("SupportConsole"))
            else:
                variables = {"districtId": self.district, "overdueOnly": False, "withReturnVisits": True}
                await self.graphql(port, token, persisted("StewardBoard", variables))
        finally:
            self.slowest[step] = max(self.slowest[step], time.monotonic() - started)

    def next_request(self, n: int) -> Callable[[], Awaitable[None]]:
        if n % 8 == 7:  # one request in eight is a steward's
            return lambda: self.steward_step(n)
        for _ in range(len(self.residents)):
            resident = self.residents[self.cursor % len(self.residents)]
            self.cursor += 1
            if not resident.busy:
                break

        async def run() -> None:
            resident.busy = True
            try:
                await self.resident_step(resident)
            finally:
                resident.busy = False

        return run

    async def step(self, rate: float, seconds: float) -> Step:
        result = Step(rate)
        start = time.monotonic()
        tasks = []

        async def one(n: int, due: float) -> None:
            try:
                await self.next_request(n)()
            except Exception as exc:  # noqa: BLE001  (any failure is counted, never stops the load)
                result.errors += 1
                # An exception's name too: a timeout's own message is empty
                result.failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
            result.latencies.append(time.monotonic() - due)

        total = int(rate * seconds)
        for n in range(total):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.wait(tasks, timeout=30)
        result.elapsed = time.monotonic() - start
        result.done = sum(1 for t in tasks if t.done())
        result.latencies += [30.0] * (total - result.done)  # never answered: as slow as we waited
        return result

    async def listen(self, port: int, token: str, operation: str, stop: asyncio.Event) -> None:
        """One open WebSocket with one live subscription, counting what arrives."""
        url = f"ws://127.0.0.1:{port}/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], ping_interval=None) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
            )
            await ws.recv()
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": persisted(operation)}))
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message.get("type") == "next":
                    self.events += 1

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


async def measure(mode: Mode, args: argparse.Namespace) -> float:
    people = await make_residents(mode, max(args.residents, args.sockets))
    # A small pool goes through whole mornings (home to chat) within the run; the rest sit on WebSockets.
    residents = people[: args.residents]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{mode.ports[0]}", timeout=30) as http:
        stewards = []
        for n, phone in enumerate(STEWARDS):
            answer = await http.post("/graphql", json={"query": LOGIN, "variables": {"phone": phone}})
            stewards.append(
                (answer.json()["data"]["loginAsDemoPerson"]["token"], mode.ports[n % len(mode.ports)])
            )
        districts = await http.post(
            "/graphql",
            json=persisted("BoardDistricts"),
            headers={"Authorization": f"Bearer {stewards[0][0]}"},
        )
        district = districts.json()["data"]["districts"]["nodes"][0]["id"]
    load = Load(mode, residents, stewards, district)
    stop = asyncio.Event()
    listeners = [
        asyncio.create_task(load.listen(r.port, r.token, "TodaysBriefingsLive", stop))
        for r in people[: args.sockets]
    ] + [asyncio.create_task(load.listen(port, token, "SupportQueueLive", stop)) for token, port in stewards]
    best = 0.0
    try:
        await load.step(args.rate / 2, args.seconds / 2)  # warm up: connections, caches, the first pages
        rate = args.rate
        climbed, ceiling = 0, False
        # Steps that passed count against args.steps; one that fails ends the climb (a first step that fails
        # looks below it first), so each mode is pushed until its p99 breaks, not until the steps run out.
        while climbed < args.steps:
            result = await load.step(rate, args.seconds)
            served = result.done / result.elapsed
            p50, p99 = percentile(result.latencies, 0.5), percentile(result.latencies, 0.99)
            errors = result.errors / max(1, len(result.latencies))
            label = f"{mode.name}_at_{rate:g}"
            print(f"{label}_served: {served:.1f} req/s")
            print(f"{label}_p50: {p50 * 1000:.1f} ms")
            print(f"{label}_p99: {p99 * 1000:.1f} ms")
            print(f"{label}_errors: {errors * 100:.1f} %", flush=True)
            for failure, times in result.failures.most_common(5):
                print(f"  {times}x {failure}", file=sys.stderr)
            print(
                "  slowest: " + ", ".join(f"{k} {v:.2f} s" for k, v in load.slowest.items()), file=sys.stderr
            )
            load.slowest.clear()
            if p99 > P99_GOAL or errors > MAX_ERRORS:
                if best or rate < 2:
                    ceiling = True
                    break
                rate = round(rate / args.growth, 1)  # not even the first step: look below it
                continue
            best = max(best, served)
            climbed += 1
            rate = round(rate * args.growth, 1)
    finally:
        stop.set()
        await asyncio.gather(*listeners, return_exceptions=True)
        await load.close()
    print(f"{mode.name}_ws_connections: {len(listeners)} sockets")
    print(f"{mode.name}_ws_events: {load.events} events")
    # Without a step that failed, the sustained rate is only a floor (and the ratio leans that way).
    print(f"{mode.name}_ceiling: {'found' if ceiling else 'not reached, the steps ran out'}")
    print(f"{mode.name}_sustained: {best:.1f} req/s", flush=True)
    return best


async def main(args: argparse.Namespace) -> None:
    print(f"households: {int(1000 * args.scale)} households")
    sustained = {}
    for name in ("embedded", "scaleout"):
        mode = Mode(name, args.scale)
        try:
            started = time.monotonic()
            await asyncio.to_thread(mode.start)
            print(f"{name}_start: {time.monotonic() - started:.0f} s", flush=True)
            sustained[name] = await measure(mode, args)
        finally:
            await asyncio.to_thread(mode.stop)
    print(
        f"ratio: {sustained['scaleout'] / sustained['embedded']:.2f}" if sustained["embedded"] else "ratio: 0"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 households and short windows")
    options = parser.parse_args()
    quick = options.quick
    options.scale = 1.0 if quick else 10.0  # Xiushan Garden has 1,000 households at scale 1
    options.residents = 60 if quick else 400
    options.sockets = 200 if quick else 2000
    options.rate = 8.0 if quick else 20.0
    options.growth = 1.5 if quick else 1.3
    options.steps = 8 if quick else 12
    options.seconds = 8.0 if quick else 30.0
    asyncio.run(main(options))
