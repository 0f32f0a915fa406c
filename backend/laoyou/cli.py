"""The `laoyou` command: serve, demo, migrate, worker, check-config, export-schema, create-admin,
import-estates, open311-key."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

if TYPE_CHECKING:
    from laoyou.core.settings import Settings
    from laoyou.media.s3 import S3Storage

app = typer.Typer(
    help="Laoyou (老友): resident services for old residential communities.", no_args_is_help=True
)
console = Console(stderr=True)

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        help="Serve https with this PEM certificate (else put a TLS-terminating proxy in front).",
    ),
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="The certificate's PEM private key.")]
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
        console.print(f"[red]Settings refused:[/red] {_refusal(exc)}")
        raise typer.Exit(2) from None


WORKER_ALIVE = Path(tempfile.gettempdir()) / "laoyou-worker-alive"


def _logging(settings) -> None:  # noqa: ANN001
    """JSON lines in production (for the log collector), human lines elsewhere."""
    from laoyou.core.logs import configure_logging

    configure_logging(settings.log_level, json=settings.is_production)


@dataclass(frozen=True)
class ConfigLine:
    what: str
    value: str  # what this process will use
    missing: str = ""  # what production requires and lacks, as one line naming the variable


def _config_report(settings, production: bool) -> list[ConfigLine]:  # noqa: ANN001, C901
    """What the settings give, and, for production, what each required part lacks."""
    from laoyou.accounts.sms import describe_sms, sms_settings_problem
    from laoyou.billing.gateways.registry import PaySettings, check_pay_settings
    from laoyou.core.settings import DEFAULT_SECRET, SMS_SENDING
    from laoyou.notify.vapid import key_path

    def need(condition: bool, message: str) -> str:
        return message if production and condition else ""

    secret = settings.secret_key
    lines = [
        ConfigLine("mode", settings.mode.value),
        ConfigLine(
            "secret key",
            "the default" if secret == DEFAULT_SECRET else f"set ({len(secret)} characters)",
            need(
                secret == DEFAULT_SECRET or len(secret) < 32,
                "LAOYOU_SECRET_KEY must be 32 or more private characters (openssl rand -hex 32)",
            ),
        ),
        ConfigLine(
            "public URL",
            settings.public_url,
            need(
                urlsplit(settings.public_url).scheme != "https"
                or urlsplit(settings.public_url).hostname in ("localhost", "127.0.0.1", None),
                "LAOYOU_PUBLIC_URL must be the public https:// address (login cards and push carry it)",
            ),
        ),
        ConfigLine("database", _without_password(settings.effective_database_url)),
        ConfigLine("data directory", str(settings.data_dir.resolve())),
        ConfigLine(
            "media",
            f"s3: bucket {settings.s3_bucket} at {settings.s3_endpoint_url or 'AWS S3'}"
            if settings.media_storage == "s3"
            else f"local: {(settings.data_dir / 'media').resolve()}",
            need(
                bool(settings.missing_for_s3(production=True)),
                f"LAOYOU_MEDIA_STORAGE=s3 needs {', '.join(settings.missing_for_s3(production=True))}",
            ),
        ),
    ]
    lines.append(
        ConfigLine(
            "SMS",
            describe_sms(settings),
            need(
                settings.sms_backend not in SMS_SENDING,
                "LAOYOU_SMS_BACKEND must be http, aliyun or tencent (console only logs codes)",
            )
            or need(bool(sms_settings_problem(settings)), sms_settings_problem(settings)),
        )
    )
    pay, refused = None, ""
    try:
        pay = PaySettings()
        check_pay_settings(pay, production=production)
    except ValueError as exc:  # a malformed LAOYOU_PAY_* value, or a refused default method
        refused = _refusal(exc)
    configured = pay.configured() if pay is not None else []
    key_files = {
        "wechat": (
            "LAOYOU_PAY_WECHAT_PRIVATE_KEY_FILE",
            "LAOYOU_PAY_WECHAT_PLATFORM_KEY_FILE",
            "LAOYOU_PAY_WECHAT_PUBLIC_KEY_FILE",
        ),
        "alipay": ("LAOYOU_PAY_ALIPAY_PRIVATE_KEY_FILE", "LAOYOU_PAY_ALIPAY_PUBLIC_KEY_FILE"),
    }
    for method in ("wechat", "alipay"):
        files = [
            (name, getattr(pay, name.removeprefix("LAOYOU_PAY_").lower(), None)) for name in key_files[method]
        ]
        absent = [
            name
            for name, path in files
            if method in configured and path is not None and not Path(path).is_file()
        ]
        lines.append(
            ConfigLine(
                f"payments: {method}",
                "configured" if method in configured else "not configured",
                need(bool(absent), f"{', '.join(absent)}: no such file"),
            )
        )
    if pay is not None and pay.alipay_app_id:
        lines.append(
            ConfigLine(
                "payments: alipay seller",
                pay.alipay_seller_id or "none",
                need(
                    not pay.alipay_seller_id,
                    "LAOYOU_PAY_ALIPAY_SELLER_ID is required with LAOYOU_PAY_ALIPAY_APP_ID (the 2088… "
                    "partner id; notifications are checked against it)",
                ),
            )
        )
    if pay is not None and "wechat" in configured:
        lines += _wechat_report(pay, settings, need)
        mp_given = bool(pay.wechat_mp_appid or pay.wechat_mp_secret)
        lines.append(
            ConfigLine(
                "payments: in WeChat",
                f"JSAPI, official account {pay.wechat_mp_appid}"
                if pay.jsapi_configured()
                else "not configured: inside WeChat's browser residents cannot pay (H5 does not work there)",
                need(
                    mp_given and not (pay.wechat_mp_appid and pay.wechat_mp_secret),
                    "LAOYOU_WECHAT_MP_APPID and LAOYOU_WECHAT_MP_SECRET go together (the official account "
                    "whose web authorisation tells the payer's openid)",
                )
                or need(
                    mp_given and pay.wechat_mp_appid != pay.wechat_appid,
                    "LAOYOU_WECHAT_MP_APPID must be LAOYOU_PAY_WECHAT_APPID: JSAPI orders are made for the "
                    "official account whose openid pays",
                ),
            )
        )
    if pay is not None and "alipay" in configured:
        alipay_url = pay.alipay_gateway_url
        lines.append(
            ConfigLine(
                "payments: alipay URL",
                alipay_url,
                need(
                    urlsplit(alipay_url).scheme != "https", "LAOYOU_PAY_ALIPAY_GATEWAY_URL must be https://"
                ),
            )
        )
    if pay is not None and configured:
        lines.append(ConfigLine("payments: proxy", pay.proxy or "none: straight out"))
        notify = urlsplit(pay.public_url)
        lines.append(
            ConfigLine(
                "payments: notify URL",
                pay.public_url,
                need(
                    notify.scheme != "https" or notify.hostname in ("localhost", "127.0.0.1", None),
                    "LAOYOU_PAY_PUBLIC_URL must be the public https:// address the gateways notify",
                ),
            )
        )
    elif not refused:
        lines.append(ConfigLine("payments", "none online: residents pay at the office"))
    if refused:
        lines.append(ConfigLine("payments: default method", "refused", refused if production else ""))
    if settings.vapid_private_key:
        vapid = "given (LAOYOU_VAPID_PRIVATE_KEY)"
    elif key_path(settings).is_file():
        vapid = f"kept in {key_path(settings)}"
    else:
        vapid = f"made on first start in {key_path(settings)}"
    lines.append(ConfigLine("web push (VAPID) key", vapid))
    try:
        servers = json.loads(settings.ice_servers)
        urls = [
            u
            for server in servers
            for u in ([server["urls"]] if isinstance(server["urls"], str) else server["urls"])
        ]
        turn, bad_ice = [u for u in urls if u.startswith(("turn:", "turns:"))], ""
    except (ValueError, TypeError, KeyError, AttributeError):
        turn, bad_ice = [], "LAOYOU_ICE_SERVERS is not a JSON list of {urls, username, credential}"
    if settings.turn_secret:  # each caller's own login
        from laoyou.support.turn import turn_urls

        turn += turn_urls(settings.turn_urls)
    lines.append(
        ConfigLine(
            "TURN",
            ", ".join(turn) if turn else "none: calls connect only when phones can reach each other directly",
            need(bool(bad_ice), bad_ice),
        )
    )
    lines += [
        ConfigLine("Secure cookies", "on" if settings.cookie_secure else "off"),
        ConfigLine("persisted operations only", "on" if settings.persisted_only else "off"),
        ConfigLine("trusted proxies", settings.trusted_proxies or "none"),
        ConfigLine("worker", settings.worker),
    ]
    return lines


def _wechat_report(pay, settings, need) -> list[ConfigLine]:  # noqa: ANN001
    """Where WeChat Pay is reached and which keys its answers are checked with."""
    from laoyou.billing.gateways.registry import wechat_certificate_store

    store = wechat_certificate_store(settings.data_dir)
    keys = [
        f"public key {pay.wechat_public_key_id or '(no id)'}" if pay.wechat_public_key_file else "",
        f"certificate {pay.wechat_platform_serial or '(no serial)'}" if pay.wechat_platform_key_file else "",
        f"certificates downloaded to {store}",
    ]
    return [
        ConfigLine(
            "payments: wechat URL",
            pay.wechat_base_url,
            need(
                urlsplit(pay.wechat_base_url).scheme != "https", "LAOYOU_PAY_WECHAT_BASE_URL must be https://"
            ),
        ),
        ConfigLine(
            "payments: wechat keys",
            ", ".join(k for k in keys if k),
            need(
                len(pay.wechat_apiv3_key.encode()) != 32,
                "LAOYOU_PAY_WECHAT_APIV3_KEY must be the 32-character APIv3 key (merchant platform → "
                "账户中心 → API安全)",
            )
            or need(
                bool(pay.wechat_public_key_file) and not pay.wechat_public_key_id.startswith("PUB_KEY_ID_"),
                "LAOYOU_PAY_WECHAT_PUBLIC_KEY_ID must be the public key's id (PUB_KEY_ID_…)",
            )
            or need(
                bool(pay.wechat_platform_key_file) and not pay.wechat_platform_serial,
                "LAOYOU_PAY_WECHAT_PLATFORM_SERIAL is required with LAOYOU_PAY_WECHAT_PLATFORM_KEY_FILE",
            ),
        ),
    ]


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _settings_for_check():  # noqa: ANN202
    """The settings, and the refusal if production refuses them: then the rest is read all the same (as dev), so
    everything missing is listed at once."""
    from pydantic import ValidationError

    from laoyou.core.settings import Settings

    try:
        return Settings(), None
    except ValidationError as exc:
        refusal = _refusal(exc)
        try:
            settings = Settings(mode="dev")
        except ValidationError:
            console.print(f"[red]Settings refused:[/red] {refusal}")
            raise typer.Exit(2) from None
        settings.turn_on_production_defaults()  # shown as production would have them
        return settings, refusal


def _refusal(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


@app.command("check-config")
def check_config(data_dir: DataDirOpt = None) -> None:
    """Print what production will use and what it lacks; exit 1 when something required is missing."""
    if data_dir is not None:
        os.environ["LAOYOU_DATA_DIR"] = str(data_dir)
    settings, refusal = _settings_for_check()
    production = refusal is not None or settings.is_production
    lines = _config_report(settings, production)
    if refusal is not None:
        lines[0] = ConfigLine("mode", "production")
    width = max(len(line.what) for line in lines)
    for line in lines:
        typer.echo(f"{line.what:<{width}}  {line.value}")
    missing = [line.missing for line in lines if line.missing]
    if refusal is not None and not missing:  # (the report checks what Settings refuses, and more)
        missing.append(refusal)
    for message in missing:
        typer.echo(f"MISSING: {message}")
    if not production:
        typer.echo(f"{settings.mode.value} mode: production's requirements are not checked")
    elif missing:
        typer.echo(f"{len(missing)} required setting(s) missing: production would refuse to start")
        raise typer.Exit(1)
    else:
        typer.echo("production has what it requires")


def _serve(settings, host: str, port: int, tls: tuple[Path, Path] | None = None) -> None:  # noqa: ANN001
    import uvicorn

    from laoyou.app import create_app
    from laoyou.core.websocket_server import SOCKET_OPTIONS

    if settings.is_production:
        missing = [line.missing for line in _config_report(settings, True) if line.missing]
        if missing:
            console.print(f"[red]Settings refused:[/red] {missing[0]} (laoyou check-config lists everything)")
            raise typer.Exit(2)
    _logging(settings)
    try:
        application = create_app(settings)
    except ValueError as exc:
        console.print(f"[red]Settings refused:[/red] {exc}")
        raise typer.Exit(2) from None
    scheme = "https" if tls else "http"
    console.print(
        f"Laoyou ({settings.mode}) on {scheme}://{host}:{port}  data: {settings.data_dir.resolve()}"
    )
    # The app believes X-Forwarded-For from LAOYOU_TRUSTED_PROXIES only (app.py); uvicorn's own reading of it
    # (FORWARDED_ALLOW_IPS) would run first and with other addresses.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level,
        # uvicorn's lines go through the handler _logging set up; the app logs one line per request itself
        # (core/logs.py RequestLog), with its request id and duration.
        log_config=None,
        access_log=False,
        proxy_headers=False,
        **SOCKET_OPTIONS,  # per socket, light (core/websocket_server.py)
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


@app.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    data_dir: DataDirOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run the app (migrations are applied on start)."""
    if (tls_cert is None) != (tls_key is None):
        console.print("[red]Refused:[/red] --tls-cert and --tls-key go together")
        raise typer.Exit(2)
    _serve(_settings(data_dir), host, port, (tls_cert, tls_key) if tls_cert and tls_key else None)


@app.command()
def demo(host: HostOpt = "127.0.0.1", port: PortOpt = 8000, data_dir: DataDirOpt = None) -> None:
    """Serve with demo data, loading it first when the database is empty."""
    overrides = {"mode": "demo"}
    if "LAOYOU_PUBLIC_URL" not in os.environ:
        # The links the demo hands out (login cards, password links) lead back to where it is served.
        overrides["public_url"] = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    settings = _settings(data_dir, **overrides)
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

    from laoyou.accounts.sms import make_sms_sender
    from laoyou.briefings import service as briefings
    from laoyou.care.sensors import listener as sensor_listener
    from laoyou.core.db import make_engine, make_sessionmaker
    from laoyou.core.jobs import run_periodic
    from laoyou.core.migrate import upgrade_when_reachable
    from laoyou.core.pubsub import make_pubsub
    from laoyou.jobs import load_domain_jobs
    from laoyou.notify.reach.sender import make_reach_sender
    from laoyou.notify.vapid import signer_for
    from laoyou.notify.worker import Worker

    settings = _settings(data_dir)
    _logging(settings)
    from laoyou.billing.gateways.registry import PaySettings, check_pay_settings

    try:
        check_pay_settings(PaySettings(), production=settings.is_production)
    except ValueError as exc:
        console.print(f"[red]Settings refused:[/red] {exc}")
        raise typer.Exit(2) from None
    load_domain_jobs()

    async def run() -> None:
        engine = make_engine(settings)
        await upgrade_when_reachable(engine)
        # With LAOYOU_PUBSUB=postgres the app's commits wake the worker at once; it also polls every second.
        pubsub = make_pubsub(settings)
        job = Worker(
            sessionmaker=make_sessionmaker(engine),
            pubsub=pubsub,
            signer=signer_for(settings),
            publish_due=briefings.do_publish_due,
            poll_seconds=1.0,
            reach=make_reach_sender(make_sessionmaker(engine), settings, sms=make_sms_sender(settings)),
            alive=WORKER_ALIVE,  # docker/compose.yaml's health check reads its age
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
                sensor_listener.listen(settings, job.sessionmaker, pubsub, stop),
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


@app.command()
def backup(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The archive to write (a new .tar.gz file).")
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Back up the database and the media files (from the bucket, with LAOYOU_MEDIA_STORAGE=s3) into one
    archive, while the app keeps serving."""
    from laoyou.core.backup import BackupError
    from laoyou.core.backup import backup as make_backup

    settings = _settings(data_dir)
    try:
        with console.status("Backing up…"):
            summary = make_backup(
                settings.effective_database_url, settings.data_dir, output, _media_bucket(settings)
            )
    except BackupError as exc:
        console.print(f"[red]Backup failed:[/red] {exc}")
        raise typer.Exit(1) from None
    rows = sum(summary.tables.values())
    counted = f"{rows} rows; " if summary.tables else ""
    files = ", ".join(
        f"{count} in {folder}"
        + (f" (bucket {summary.bucket})" if folder == "media" and summary.bucket else "")
        for folder, count in summary.files.items()
    )
    console.print(f"Wrote {output}: the {summary.database} database ({counted}files: {files}).")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive made by `laoyou backup`.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Restore a backup into an empty data directory or an empty database (refused otherwise); with
    LAOYOU_MEDIA_STORAGE=s3 the media files go into the bucket, which must be empty."""
    from laoyou.core.backup import BackupError
    from laoyou.core.backup import restore as restore_backup

    settings = _settings(data_dir)
    try:
        with console.status("Restoring…"):
            summary = restore_backup(
                archive, settings.effective_database_url, settings.data_dir, _media_bucket(settings)
            )
    except BackupError as exc:
        console.print(f"[red]Restore refused:[/red] {exc}")
        raise typer.Exit(1) from None
    into = f" (media into bucket {summary.bucket})" if summary.bucket else ""
    console.print(
        f"Restored the {summary.database} database and {sum(summary.files.values())} files{into}. "
        "Start Laoyou as usual: it applies any newer migrations."
    )


def _media_bucket(settings: Settings) -> S3Storage | None:
    """The bucket media files are in, when they are not in the data directory's media folder."""
    if settings.media_storage != "s3":
        return None
    from laoyou.media.s3 import S3Storage

    return S3Storage(settings)


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


@app.command("mqtt-logins")
def mqtt_logins(
    output: Annotated[
        Path, typer.Argument(help="The folder Mosquitto reads its password file and ACL from.")
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Write Mosquitto's password file and ACL: Laoyou's login (from LAOYOU_MQTT_URL) and every registered sensor's.

    Run it after registering or taking off a sensor, then send Mosquitto SIGHUP to read them again."""
    from urllib.parse import unquote, urlsplit

    from laoyou.care.sensors import service as sensors
    from laoyou.core.db import make_engine, make_sessionmaker, session_scope
    from laoyou.core.migrate import upgrade

    settings = _settings(data_dir)
    broker = urlsplit(settings.mqtt_url)
    if not (broker.username and broker.password):
        console.print(
            "[red]LAOYOU_MQTT_URL must hold Laoyou's user name and password (mqtt://user:password@host)[/red]"
        )
        raise typer.Exit(2)

    async def run() -> str:
        engine = make_engine(settings)
        await upgrade(engine)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                return await sensors.password_file(session)
        finally:
            await engine.dispose()

    devices = asyncio.run(run())
    user = unquote(broker.username)
    output.mkdir(parents=True, exist_ok=True)
    passwords = output / "passwords"
    passwords.write_text(
        f"{user}:{sensors.mosquitto_hash(unquote(broker.password))}\n{devices}", encoding="utf-8"
    )
    (output / "acl").write_text(sensors.acl_file(user), encoding="utf-8")
    console.print(f"Wrote {passwords} ({devices.count(chr(10))} sensors) and {output / 'acl'}")


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


@app.command("import-estates")
def import_estates(
    file: Annotated[
        Path, typer.Argument(help="An .xlsx or .csv file, one row a unit.", exists=True, dir_okay=False)
    ],
    community: Annotated[int, typer.Option("--community", help="The community's id.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Import a community's buildings, units and households from a spreadsheet, as the operator's admin.
    Importing the same file again changes nothing; a file with any error is refused whole."""
    from laoyou.accounts.actor import Actor
    from laoyou.accounts.models import Person, Role, RoleGrant
    from laoyou.core.db import make_engine, make_sessionmaker, session_scope
    from laoyou.core.errors import LaoyouError, NotFound
    from laoyou.core.i18n import gettext
    from laoyou.core.migrate import upgrade
    from laoyou.estates.importing import apply_import, parse_rows, plan_import, read_table

    settings = _settings(data_dir)
    # Whoever runs the command on the server already holds the data: they act as the admin.
    actor = Actor(
        person=Person(id=0, phone="", name="import-estates"),
        grants=[RoleGrant(person_id=0, role=Role.admin.value)],
    )

    async def run() -> tuple[dict[str, int], list[str], int]:
        engine = make_engine(settings)
        await upgrade(engine)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                rows = parse_rows(read_table(file.name, file.read_bytes()))
                plan = await plan_import(session, actor=actor, community_id=community, rows=rows)
                counts = {o: plan.count(o) for o in ("new", "changed", "unchanged", "error")}
                errors = [
                    f"row {r.line}, cell {r.cell} {r.column}: {r.error.text('en')}".replace("  ", " ")
                    for r in plan.errors
                ]
                written = 0
                if not plan.errors and not dry_run:
                    # Committed batch by batch: a re-run after a crash finds those and writes only the rest.
                    written = await apply_import(session, actor=actor, plan=plan, on_batch=session.commit)
                return counts, errors, written
        finally:
            await engine.dispose()

    try:
        counts, errors, written = asyncio.run(run())
    except NotFound:
        console.print(f"[red]No community {community}.[/red]")
        raise typer.Exit(2) from None
    except LaoyouError as exc:
        console.print(f"[red]{gettext(exc.message, 'en', **exc.params)}[/red]")
        raise typer.Exit(2) from None
    for line in errors:
        typer.echo(line)
    typer.echo(" ".join(f"{name}: {n}" for name, n in counts.items()))
    if errors:
        typer.echo("refused: nothing was imported; correct the rows above and run again")
        raise typer.Exit(1)
    typer.echo("dry run: nothing was written" if dry_run else f"written: {written}")


open311_key = typer.Typer(
    help="Open311 API keys: a city's 12345 platform or another client files and reads reports."
)
app.add_typer(open311_key, name="open311-key")


def _run_open311(settings, work):  # noqa: ANN001, ANN202
    """Run one unit of work on the migrated database; a refused command says why and exits 2."""
    from laoyou.core.db import make_engine, make_sessionmaker, session_scope
    from laoyou.core.migrate import upgrade
    from laoyou.governance.open311.service import KeyRefused

    async def run():  # noqa: ANN202
        engine = make_engine(settings)
        await upgrade(engine)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except KeyRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@open311_key.command("create")
def open311_key_create(
    district: Annotated[int, typer.Option("--district", help="The district's id.")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="public (open data only) or integration (the operator's own systems)."),
    ],
    by: Annotated[str, typer.Option("--by", help="The phone of the admin the key acts for.")],
    community: Annotated[
        int | None, typer.Option("--community", help="Only this community of the district.")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Make a key and print it once (only its hash is kept)."""
    from laoyou.governance.open311 import service as open311

    made = _run_open311(
        _settings(data_dir),
        lambda session: open311.do_create_key(
            session, district_id=district, kind=kind, by_phone=by, community_id=community
        ),
    )
    typer.echo(f"key {made.key.id} ({made.key.kind}, district {made.key.district_id}); it is shown only now:")
    typer.echo(made.secret)


@open311_key.command("revoke")
def open311_key_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id, as create printed it.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a key: its client is refused from then on."""
    from laoyou.governance.open311 import service as open311

    _run_open311(_settings(data_dir), lambda session: open311.do_revoke_key(session, key_id=key_id))
    typer.echo(f"key {key_id} revoked")


media_app = typer.Typer(help="Media files: residents' photos, voice notes and videos.")
app.add_typer(media_app, name="media")


@media_app.command("migrate")
def media_migrate(
    to: Annotated[str, typer.Option("--to", help="s3: the bucket of the LAOYOU_S3_* settings.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Copy the media files of the data directory into the bucket. Run again after a stop: what is there at
    the same size is skipped. The local files are kept; then set LAOYOU_MEDIA_STORAGE=s3 and restart."""
    from botocore.exceptions import BotoCoreError, ClientError

    from laoyou.media.s3 import BucketUnavailable, S3Storage
    from laoyou.media.storage import copy_missing, local_storage

    if to != "s3":
        console.print("[red]--to takes s3.[/red]")
        raise typer.Exit(2)
    settings = _settings(data_dir)
    if not settings.s3_bucket:
        console.print("[red]Set LAOYOU_S3_BUCKET (and its endpoint and keys) first.[/red]")
        raise typer.Exit(2)
    source = local_storage(settings)
    total = len(source.keys()) if source.root.is_dir() else 0

    async def run():  # noqa: ANN202
        async with S3Storage(settings) as bucket:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                console=console,
            ) as progress:
                task = progress.add_task(f"Copying to {settings.s3_bucket}", total=total)
                return await copy_missing(source, bucket, on_file=lambda key, copied: progress.advance(task))

    try:
        done = asyncio.run(run())
    except BucketUnavailable as exc:
        console.print(f"[red]Cannot use the bucket:[/red] {exc}")
        raise typer.Exit(1) from None
    except (ClientError, BotoCoreError) as exc:
        console.print(f"[red]Stopped:[/red] {exc}. Run the same command again to go on from here.")
        raise typer.Exit(1) from None
    typer.echo(
        f"copied {done.copied} files ({done.bytes_copied / 1024 / 1024:.1f} MB), "
        f"skipped {done.skipped} already in the bucket"
    )
    if total:
        typer.echo(
            "the local files are kept: set LAOYOU_MEDIA_STORAGE=s3 and restart Laoyou to use the bucket"
        )


if __name__ == "__main__":
    app()
