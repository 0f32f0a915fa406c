"""The `laoyou` command: serve, demo, migrate, worker, export-schema, create-admin."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

app = typer.Typer(
    help="Laoyou (老友): resident services for old residential communities.", no_args_is_help=True
)
console = Console(stderr=True)

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the database and files live (LAOYOU_DATA_DIR).")
]


def _settings(data_dir: Path | None = None, **overrides: str):  # noqa: ANN202
    """Command-line options win over LAOYOU_* variables."""
    from laoyou.core import settings as settings_module

    if data_dir is not None:
        os.environ["LAOYOU_DATA_DIR"] = str(data_dir)
    for key, value in overrides.items():
        os.environ[f"LAOYOU_{key.upper()}"] = value
    settings_module.get_settings.cache_clear()
    try:
        return settings_module.get_settings()
    except ValueError as exc:
        console.print(f"[red]Settings refused:[/red] {exc}")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _serve(settings, host: str, port: int) -> None:  # noqa: ANN001
    import uvicorn

    from laoyou.app import create_app

    _logging(settings.log_level)
    try:
        application = create_app(settings)
    except ValueError as exc:
        console.print(f"[red]Settings refused:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"Laoyou ({settings.mode}) on http://{host}:{port}  data: {settings.data_dir.resolve()}")
    # The app believes X-Forwarded-For from LAOYOU_TRUSTED_PROXIES only (app.py); uvicorn's own reading of it
    # (FORWARDED_ALLOW_IPS) would run first and with other addresses.
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level, proxy_headers=False)


@app.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000, data_dir: DataDirOpt = None) -> None:
    """Run the app (migrations are applied on start)."""
    _serve(_settings(data_dir), host, port)


@app.command()
def demo(host: HostOpt = "127.0.0.1", port: PortOpt = 8000, data_dir: DataDirOpt = None) -> None:
    """Serve with demo data, loading it first when the database is empty."""
    settings = _settings(data_dir, mode="demo")
    _load_demo(settings)
    _serve(settings, host, port)


def _load_demo(settings) -> None:  # noqa: ANN001
    from laoyou.core.db import make_engine, make_sessionmaker
    from laoyou.core.migrate import upgrade
    from laoyou.demo.data import load_demo_if_empty

    async def run() -> bool:
        engine = make_engine(settings)
        await upgrade(engine)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            console=console,
        ) as progress:
            task = progress.add_task("Loading demo data", total=None)

            def step(done: int, total: int, what: str) -> None:
                progress.update(task, completed=done, total=total, description=f"Loading demo data: {what}")

            loaded = await load_demo_if_empty(
                make_sessionmaker(engine), scale=settings.demo_households_scale, progress=step
            )
        await engine.dispose()
        return loaded

    loaded = asyncio.run(run())
    console.print("Demo data loaded." if loaded else "Demo data already present; left as it is.")


@app.command()
def migrate(data_dir: DataDirOpt = None) -> None:
    """Apply database migrations and exit."""
    from laoyou.core.db import make_engine
    from laoyou.core.migrate import upgrade

    settings = _settings(data_dir)

    async def run() -> None:
        engine = make_engine(settings)
        with console.status("Applying migrations…"):
            await upgrade(engine)
        await engine.dispose()

    asyncio.run(run())
    console.print("Database is up to date.")


@app.command()
def worker(data_dir: DataDirOpt = None) -> None:
    """Send push notifications and run scheduled jobs (set LAOYOU_WORKER=external on the app processes)."""
    import signal

    from laoyou.briefings import service as briefings
    from laoyou.core.db import make_engine, make_sessionmaker
    from laoyou.core.jobs import run_periodic
    from laoyou.core.migrate import upgrade
    from laoyou.core.pubsub import make_pubsub
    from laoyou.jobs import load_domain_jobs
    from laoyou.notify.vapid import signer_for
    from laoyou.notify.worker import Worker

    settings = _settings(data_dir)
    _logging(settings.log_level)
    from laoyou.billing.gateways.registry import PaySettings, check_pay_settings

    try:
        check_pay_settings(PaySettings(), production=settings.is_production)
    except ValueError as exc:
        console.print(f"[red]Settings refused:[/red] {exc}")
        raise typer.Exit(2) from None
    load_domain_jobs()

    async def run() -> None:
        engine = make_engine(settings)
        await upgrade(engine)
        # With LAOYOU_PUBSUB=postgres the app's commits wake the worker at once; it also polls every second.
        pubsub = make_pubsub(settings)
        job = Worker(
            sessionmaker=make_sessionmaker(engine),
            pubsub=pubsub,
            signer=signer_for(settings),
            publish_due=briefings.do_publish_due,
            poll_seconds=1.0,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"Laoyou worker running  data: {settings.data_dir.resolve()}")
        try:
            await asyncio.gather(
                job.run(stop),
                run_periodic(job.sessionmaker, pubsub, stop, scale=settings.jobs_interval_scale),
            )
        finally:
            await job.close()
            if hasattr(pubsub, "close"):
                await pubsub.close()
            await engine.dispose()

    # On uvloop when it is there (uvicorn[standard] brings it), as the embedded worker runs under uvicorn:
    # a push costs the event loop about a tenth less.
    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


@app.command("export-schema")
def export_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the GraphQL schema (SDL)."""
    from laoyou.graphql.schema import export_sdl

    sdl = export_sdl()
    if output:
        output.write_text(sdl, encoding="utf-8")
        console.print(f"Wrote {output}")
    else:
        typer.echo(sdl, nl=False)


@app.command("create-admin")
def create_admin(
    phone: Annotated[str, typer.Option(prompt=True, help="The admin's mobile number.")],
    name: Annotated[str, typer.Option(prompt=True, help="The admin's name.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."),
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Create the operator's administrator (or give an existing person that role and this password)."""
    from laoyou.accounts import service as accounts
    from laoyou.accounts.models import Role
    from laoyou.core.db import make_engine, make_sessionmaker, session_scope
    from laoyou.core.errors import LaoyouError
    from laoyou.core.migrate import upgrade

    settings = _settings(data_dir)

    async def run() -> str:
        engine = make_engine(settings)
        await upgrade(engine)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                person = await accounts.do_create_person(session, phone=phone, name=name, password=password)
                grants = await accounts.live_grants(session, person.id)
                if not any(g.role == Role.admin.value for g in grants):
                    await accounts.do_grant_role(session, person=person, role=Role.admin)
                return person.phone
        finally:
            await engine.dispose()

    try:
        created = asyncio.run(run())
    except LaoyouError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Admin ready: {created}")


if __name__ == "__main__":
    app()
