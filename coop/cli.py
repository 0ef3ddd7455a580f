"""The ``coop`` command: serve, demo, worker, migrate, authorities, clients, keys, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

from coop.logs import uvicorn_options
from coop.settings import Settings, load_settings

log = logging.getLogger("coop.cli")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, when it has one worth showing: not for a
    flag (``False``), an option with no default (``None``) or a help text that already says
    ``(default...``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "(default" in text
            or default is None
            or isinstance(default, bool)
            or default == argparse.SUPPRESS
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """``coop``'s parsers: every one (``add_subparsers`` makes its commands of the parent's
    class) formats its help with :class:`HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _configure_logging(settings: Settings) -> None:
    """COOP_LOG_LEVEL and COOP_LOG_FORMAT, once for the process (``coop.logs``)."""
    from coop.logs import configure

    try:
        configure(settings)
    except ValueError as exc:
        raise SystemExit(f"invalid configuration: {exc}") from None


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` blocks stop the embedded servers.

    (uvicorn catches SIGTERM itself, shuts down gracefully, then raises it again: this
    handler turns that into a clean exit.) A requested stop exits 0.
    """

    def _raise(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _raise)


def has_database(data_path: Path) -> bool:
    """Whether an embedded PostgreSQL was made under ``data_path`` (``coop.embedded`` keeps
    its cluster in ``pg/``; ``initdb`` writes ``PG_VERSION`` there)."""
    return (data_path / "pg" / "PG_VERSION").is_file()


def require_data_dir(settings: Settings) -> None:
    """Refuse (exit 2) to make a new data directory implicitly.

    On the embedded default, every command but ``serve``, ``demo`` and ``init`` works on a
    data directory that already holds a database: one run from another directory must not
    silently start a second, empty one. With ``COOP_DATABASE_URL`` set, nothing to check.
    """
    if not settings.embedded or has_database(settings.data_path):
        return
    path = settings.data_path
    where = "does not exist" if not path.exists() else "holds no database"
    print(
        f"coop: the data directory {path} {where}, and COOP_DATABASE_URL is not set.\n"
        "  To use an existing one: coop --data-dir DIR ... (or COOP_DATA_DIR=DIR).\n"
        f"  To create one here: coop --data-dir {path} init (or coop serve, which also "
        "creates it).\n"
        "  To use a PostgreSQL server instead: set COOP_DATABASE_URL (and COOP_REDIS_URL).",
        file=sys.stderr,
    )
    raise SystemExit(2)


@contextlib.contextmanager
def services(
    settings: Settings, *, redis: bool, migrate: bool = False, create: bool = False
) -> Iterator[Settings]:
    """Settings with URLs: the configured ones, or the embedded default started here.

    The embedded database is migrated first, so every command works on a fresh data
    directory. A configured database is migrated only by ``coop migrate`` (the one-shot job
    of the production shape), never by replicas racing each other at start. Only with
    ``create`` (``serve``, ``demo``, ``init``) is a data directory with no database made;
    otherwise :func:`require_data_dir` refuses.
    """
    from coop.db.migrate import upgrade

    if not create:
        require_data_dir(settings)
    embedded = None
    if redis and not settings.embedded and not settings.redis_url:
        raise SystemExit(
            "COOP_DATABASE_URL is set but COOP_REDIS_URL is not: set both, or neither for "
            "the embedded default"
        )
    if settings.embedded:
        from coop.embedded import Embedded

        embedded = Embedded(settings.data_path, redis=redis).start()
        settings = settings.replace(
            database_url=embedded.database_url,
            redis_url=embedded.redis_url if redis else settings.redis_url,
        )
    try:
        assert settings.database_url
        if migrate or embedded is not None:
            upgrade(settings.database_url)
        yield settings
    finally:
        if embedded is not None:
            embedded.stop()


# -- serve and worker ------------------------------------------------------------------------


async def _serve(
    settings: Settings,
    host: str,
    port: int,
    with_worker: bool,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve until stopped; ``on_started`` is called once the server listens."""
    import uvicorn

    from coop.app import create_app

    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan="on", **uvicorn_options(settings))
    )
    worker = task = None
    if with_worker:
        from coop.worker import build_worker

        worker = build_worker(settings, handle_signals=False)
        task = asyncio.create_task(worker.async_run())
    watch = asyncio.create_task(_when_started(server, on_started)) if on_started else None
    try:
        await server.serve()
    finally:
        if watch is not None:
            watch.cancel()
        if worker is not None and task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await worker.close()


async def _when_started(server: Any, then: Callable[[], None]) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    then()


def _served_at(settings: Settings, host: str, port: int) -> Settings:
    """The settings of a server bound to ``host:port``: unset, the issuer follows it."""
    from coop.settings import WILDCARDS

    if not settings.issuer and host in WILDCARDS:
        log.warning(
            "COOP_ISSUER is unset and coop serves on every address (%s): tokens name "
            "http://127.0.0.1:%s. Set COOP_ISSUER to the public base URL in production.",
            host,
            port,
        )
    return settings.served_at(host, port)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers < 1:
        print("--workers must be 1 or more", file=sys.stderr)
        return 2
    settings = _served_at(settings, args.host, args.port)
    with_worker = args.with_worker or settings.embedded
    if args.workers > 1:
        return _serve_processes(settings, args.host, args.port, args.workers, with_worker)
    with services(settings, redis=True, create=True) as s:
        log.info("coop on http://%s:%s (data: %s)", args.host, args.port, s.data_path)
        asyncio.run(_serve(s, args.host, args.port, with_worker))
    return 0


def settings_environ(settings: Settings) -> dict[str, str]:
    """``COOP_*`` variables that make ``load_settings()`` give back ``settings``."""
    import msgspec

    env = {}
    for name, value in msgspec.structs.asdict(settings).items():
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[f"COOP_{name.upper()}"] = text
    return env


def _serve_processes(
    settings: Settings, host: str, port: int, workers: int, with_worker: bool
) -> int:
    """``coop serve --workers N``: uvicorn's supervisor and N API processes on one port.

    The processes read their settings from ``COOP_*`` variables set here (the embedded
    servers' URLs, the resolved issuer, the absolute data directory), so they all serve one
    database under one issuer. They never run the arq worker: on the embedded default (or
    with ``--with-worker``) one ``coop worker`` process runs beside them, stopped with them.
    Metrics are counted per process in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary
    directory, removed at exit, unless it is set).
    """
    import os
    import shutil
    import subprocess
    import tempfile

    import uvicorn

    from coop.auth.keys import KeyRing

    metrics_dir = None
    with services(settings, redis=True, create=True) as s:
        s = s.replace(data_dir=str(s.data_path))
        KeyRing.from_settings(s)  # make the signing key now, not in N processes racing
        os.environ.update(settings_environ(s))
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = tempfile.mkdtemp(prefix="coop-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        worker = None
        try:
            if with_worker:
                worker = subprocess.Popen([sys.executable, "-m", "coop.cli", "worker"])
            log.info(
                "coop on http://%s:%s: %d API processes%s (data: %s)",
                host,
                port,
                workers,
                f", worker process {worker.pid}" if worker else "",
                s.data_path,
            )
            uvicorn.run(
                "coop.app:create_app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                lifespan="on",
                **uvicorn_options(s),
            )
        finally:
            if worker is not None:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo region into a fresh embedded data directory (once), then serve."""
    from coop.demo import run

    return run(
        _served_at(settings, args.host, args.port),
        seed=args.seed,
        host=args.host,
        port=args.port,
        data_dir=getattr(args, "data_dir", None),
        services=functools.partial(services, create=True),
        serve=_serve,
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from coop.worker import build_worker

    with services(settings, redis=True) as s:
        worker = build_worker(s)
        worker.run()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with services(settings, redis=False, migrate=True):
        print("database at head")
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """Make the embedded default's data directory: PostgreSQL, migrated, and signing keys."""
    if not settings.embedded:
        print(
            "coop init: COOP_DATABASE_URL is set, so there is no data directory to create: "
            "the database is that server's. Run `coop migrate` to bring it to head.",
            file=sys.stderr,
        )
        return 2
    path = settings.data_path
    if has_database(path):
        print(f"coop init: {path} already holds a database: nothing to do")
        return 0
    from coop.auth.keys import KeyRing

    with services(settings, redis=False, create=True) as s:
        made = [f"{path}: the data directory", f"{path / 'pg'}: PostgreSQL, database migrated"]
        if not (s.jwks or s.jwks_file):  # else the keys are configured elsewhere
            ring = KeyRing.from_settings(s)
            made.append(f"{ring.path}: the token signing keys")
    print("coop init: made\n" + "\n".join(f"  {line}" for line in made))
    print(f"Use it from anywhere with: coop --data-dir {path} ... (or COOP_DATA_DIR={path})")
    return 0


# -- members and clients -----------------------------------------------------------------------


async def _with_engine(settings: Settings, fn: Any) -> Any:
    from coop.db.session import create_engine

    engine = create_engine(settings)
    try:
        return await fn(engine)
    finally:
        await engine.dispose()


def _problem_exit(exc: Exception) -> int:
    from coop.errors import Problem

    if isinstance(exc, Problem):
        print(json.dumps(exc.body(), indent=2), file=sys.stderr)
        return 1
    raise exc


def _refuse(command: str, errors: list[tuple[str, str]]) -> int:
    """Print each ``(option, what is wrong)`` on stderr; exit status 2 (a usage error)."""
    for option, detail in errors:
        print(f"coop {command}: {option}: {detail.replace('`', '')}", file=sys.stderr)
    return 2


def _checked(command: str, value: dict[str, Any], tp: Any, options: dict[str, str]) -> Any:
    """``value`` as ``tp``, or ``None`` after saying in words (the API's own, from
    ``coop.edge``) what is wrong with each option. ``options`` names each field's option."""
    import msgspec

    from coop.edge import check_value

    errors = check_value(value, tp)
    if errors:
        _refuse(command, [(options.get(e.field, e.field), e.detail) for e in errors])
        return None
    return msgspec.convert(value, tp)


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def cmd_authorities_add(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from coop.members.schemas import AuthorityIn
    from coop.members.service import add_authority

    fields = ("name", "gss_code", "region", "membership")
    data = _checked(
        "authorities add",
        {"slug": args.slug, **{f: getattr(args, f) for f in fields}},
        AuthorityIn,
        {"slug": "SLUG", **{f: _option(f) for f in fields}},
    )
    if data is None:
        return 2
    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(_with_engine(s, lambda e: add_authority(e, data, actor=None)))
        except Exception as exc:
            return _problem_exit(exc)
    print(msgspec.json.format(msgspec.json.encode(out)).decode())
    return 0


def cmd_clients_add(args: argparse.Namespace, settings: Settings) -> int:
    from coop.auth.clients import create_client
    from coop.auth.principal import SCOPES
    from coop.auth.schemas import ClientIn
    from coop.errors import Problem

    command = "clients add"
    scopes = [s for part in args.scopes.replace(",", " ").split() for s in [part.strip()] if s]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        return _refuse(
            command,
            [("--scopes", f"unknown: {', '.join(unknown)} (the scopes: {', '.join(SCOPES)})")],
        )
    options = {f: _option(f) for f in ("authority", "region", "scopes", "name")}
    value = {"authority": args.authority, "region": args.region, "scopes": scopes}
    data = _checked(command, {**value, "name": args.name}, ClientIn, options)
    if data is None:
        return 2
    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(
                _with_engine(s, lambda e: create_client(e, data, actor=None, scrypt_n=s.scrypt_n))
            )
        except Problem as exc:
            if exc.code == "unknown_authority":  # the service looked in every region
                regions = asyncio.run(_with_engine(s, _regions)) or ["there are none yet"]
                detail = f'no authority "{args.authority}" (looked in every region: '
                return _refuse(command, [("--authority", detail + ", ".join(regions) + ")")])
            if exc.status == 422 and exc.extra.get("errors"):
                said = [(options.get(e["field"], "?"), e["detail"]) for e in exc.extra["errors"]]
                return _refuse(command, said)
            return _problem_exit(exc)
    print(json.dumps({"client_id": out.client_id, "client_secret": out.client_secret}))
    return 0


async def _regions(engine: Any) -> list[str]:
    """The regions that have an authority (where ``clients add --authority`` looks)."""
    import sqlalchemy as sa

    from coop.db.schema import authorities

    async with engine.connect() as conn:
        region = authorities.c.region
        rows = await conn.scalars(sa.select(region).distinct().order_by(region))
        return list(rows)


# -- settlement ------------------------------------------------------------------------------


def cmd_settle(args: argparse.Namespace, settings: Settings) -> int:
    """Open the run of a region's month and carry it out now, in this process."""
    import msgspec

    async def run(engine: Any) -> Any:
        from coop.clock import Clock
        from coop.settlement.runs import execute_run, request_run
        from coop.settlement.service import View, get_run_in
        from coop.wakeups import Scheduler

        clock = Clock()
        out, _ = await request_run(
            engine, None, args.region, args.period, clock=clock, scheduler=Scheduler(None)
        )
        for _attempt in range(600):  # another worker may hold the region: wait for it
            outcome = await execute_run(engine, out.id, clock=clock)
            if outcome.status != "busy":
                break
            await asyncio.sleep(1)
        return await get_run_in(engine, View(args.region, None), out.id)

    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(_with_engine(s, run))
        except Exception as exc:
            return _problem_exit(exc)
    print(msgspec.json.format(msgspec.json.encode(out)).decode())
    return 0 if out.status == "completed" else 1


def cmd_import_placements(args: argparse.Namespace, settings: Settings) -> int:
    """The CSV twin of ``POST /bookings/import``: all or nothing, the errors by row."""
    from coop.bookings.imports import as_csv_fields, import_placements, rows_from_csv
    from coop.clock import Clock
    from coop.errors import Problem

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        rows = rows_from_csv(text)
    except Problem as exc:
        return _problem_exit(as_csv_fields(exc))
    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(
                _with_engine(s, lambda e: import_placements(e, rows, principal=None, clock=Clock()))
            )
        except Problem as exc:
            return _problem_exit(as_csv_fields(exc))
    print(json.dumps({"count": len(out), "ids": [b.id for b in out]}, indent=2))
    return 0


# -- keys ------------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from coop.auth.keys import KeyRing

    if not (settings.jwks or settings.jwks_file):
        require_data_dir(settings)  # the key file lives in the data directory
    ring = KeyRing.from_settings(settings)
    if args.keys_command in ("rotate", "prune") and ring.path is None:
        print(
            "the signing keys come from COOP_JWKS: rotate them in that configuration "
            "(docs/operations.md)",
            file=sys.stderr,
        )
        return 2
    if args.keys_command == "rotate":
        kid = ring.rotate()
        print(json.dumps({"signing_kid": kid, "kids": ring.kids()}))
    elif args.keys_command == "prune":
        dropped = ring.prune(timedelta(seconds=settings.token_ttl_seconds))
        print(json.dumps({"dropped": dropped, "kids": ring.kids()}))
    else:
        print(json.dumps({"signing_kid": ring.current_kid, "kids": ring.kids()}))
    return 0


# -- bench -----------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.suite == "reports":
        from coop.bench_reports import run_reports_bench

        code, report = run_reports_bench(
            settings,
            scale=args.scale,
            seed=args.seed,
            years=args.years,
            runs=args.runs,
            today=args.today,
            keep=args.keep,
        )
        print("\n".join(report))
        return code
    if args.suite == "settlement":
        from coop.bench_settlement import run_settlement_bench

        code, report = run_settlement_bench(
            settings,
            regions=args.regions,
            authorities=args.authorities,
            beds=args.beds,
            placements=args.placements,
            month=args.month,
        )
        print("\n".join(report))
        return code
    from coop.bench import run_bookings_bench

    code, report = run_bookings_bench(
        settings,
        clients=args.clients,
        processes=args.processes,
        seconds=args.seconds,
        homes=args.homes,
        workers=args.workers,
        rate=args.rate,
    )
    print("\n".join(report))
    return code


# -- parser ----------------------------------------------------------------------------------


#: What a command on the database reads (each command's description ends with it).
DATABASE_ENV = (
    "Reads COOP_DATABASE_URL; unset, it uses the embedded PostgreSQL of the data directory "
    "(--data-dir, else COOP_DATA_DIR, else ./.coop), which must already hold a database: it "
    "never creates one (`coop init` or `coop serve` do)."
)


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    p = Parser(
        prog="coop",
        description="The regional children's homes cooperative. Configuration: COOP_* "
        "environment variables (COOP_DATABASE_URL, COOP_REDIS_URL, COOP_DATA_DIR, ...; see "
        "docs/operations.md); with no database configured, an embedded PostgreSQL (and, for "
        "serve and worker, Redis) run under the data directory. Only `coop init`, `coop "
        "serve` and `coop demo` create a data directory; the other commands refuse (exit 2) "
        "one that holds no database. `coop COMMAND --help` describes each command.",
    )
    p.add_argument("--version", action="version", version=f"coop {version('coop')}")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the data directory of the embedded default (default: COOP_DATA_DIR, else ./.coop)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the API (and, embedded, the worker)",
        description="Serve the HTTP API. With no COOP_ISSUER, tokens name the address served "
        "(http://HOST:PORT; http://127.0.0.1:PORT for 0.0.0.0 or ::). With --workers N, N API "
        "processes share the port; run `coop worker` beside them (on the embedded default, "
        "or with --with-worker, one worker process is started with them).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on the port (more than 1: uvicorn's supervisor, and the worker, "
        "if any, in a process of its own)",
    )
    serve.add_argument(
        "--with-worker",
        action="store_true",
        help="also run the arq worker (always, on the embedded default)",
    )
    serve.set_defaults(fn=cmd_serve)

    demo = sub.add_parser(
        "demo",
        help="load a living East of England region (once), then serve it",
        description="On the embedded default (PostgreSQL and Redis under the data directory: "
        "--data-dir, else COOP_DATA_DIR, else ./.coop), load the demo region from an empty "
        "directory: the East of England's eleven authorities, a few dozen council homes and a "
        "year of requests, offers, placements and settlements made through the real services "
        "under a moved clock. Then serve like `coop serve`, after printing each demo role's "
        "client credentials (also saved in DATA_DIR/demo.json), the board URL and the API docs "
        "URL. A second run on the same directory serves at once. COOP_DATABASE_URL and "
        "COOP_REDIS_URL are ignored: the demo never touches a configured database. A "
        "directory holding another database is refused (exit 2).",
    )
    demo.add_argument("--seed", type=int, default=1, help="the demo's random seed")
    demo.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    demo.add_argument("--port", type=int, default=8000, help="the port to listen on")
    demo.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the data directory, as `coop --data-dir DIR demo` (default: COOP_DATA_DIR, "
        "else ./.coop)",
    )
    demo.set_defaults(fn=cmd_demo)

    sub.add_parser(
        "worker",
        help="run the arq worker",
        description="Run the arq worker: deferred allocations, offer expiry, settlement runs. "
        "Any number of workers may run beside any number of API processes: each job runs once.",
    ).set_defaults(fn=cmd_worker)
    sub.add_parser(
        "migrate",
        help="upgrade the database to head",
        description="Apply every Alembic migration the database lacks (the one-shot job of a "
        "deployment: `coop serve` never migrates a configured database). " + DATABASE_ENV,
    ).set_defaults(fn=cmd_migrate)

    sub.add_parser(
        "init",
        help="create the embedded default's data directory",
        description="Create the data directory (--data-dir, else COOP_DATA_DIR, else ./.coop): "
        "an embedded PostgreSQL with the coop database, migrated, and the token signing keys "
        "(DIR/keys/jwks.json, unless COOP_JWKS or COOP_JWKS_FILE is set); then stop. On a "
        "directory that already holds a database it says so and changes nothing (exit 0). "
        "With COOP_DATABASE_URL set there is nothing to create (exit 2): use `coop migrate`.",
    ).set_defaults(fn=cmd_init)

    from coop.auth.principal import SCOPES
    from coop.policy.vocabulary import Membership

    auth = sub.add_parser(
        "authorities",
        help="member authorities",
        description="Manage the member authorities (councils) of the cooperative.",
    )
    auth_sub = auth.add_subparsers(dest="authorities_command", required=True, metavar="ACTION")
    add = auth_sub.add_parser(
        "add",
        help="add an authority",
        description="Add a member authority to a region; prints it as JSON. " + DATABASE_ENV,
    )
    add.add_argument(
        "slug", metavar="SLUG", help="its id: lower-case letters, digits and hyphens, e.g. suffolk"
    )
    add.add_argument("--name", required=True, help="its name, e.g. 'Suffolk County Council'")
    add.add_argument(
        "--gss-code",
        required=True,
        help="its ONS GSS code: E, W, S or N and eight digits, e.g. E10000029",
    )
    add.add_argument("--region", required=True, help="the region's slug, e.g. east-of-england")
    add.add_argument(
        "--membership",
        default="member",
        choices=get_args(Membership),
        help="member, associate or suspended",
    )
    add.set_defaults(fn=cmd_authorities_add)

    clients = sub.add_parser(
        "clients",
        help="API clients",
        description="Manage API clients (OAuth client credentials).",
    )
    clients_sub = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    cadd = clients_sub.add_parser(
        "add",
        help="create a client; prints its secret once",
        description="Create an API client of an authority (--authority) or of a whole region "
        "(--region); prints its client_id and client_secret as JSON (the secret is shown this "
        "once: only its hash is kept); COOP_SCRYPT_N sets the hash's cost. " + DATABASE_ENV,
    )
    who = cadd.add_mutually_exclusive_group(required=True)
    who.add_argument("--authority", metavar="SLUG", help="the authority the client acts for")
    who.add_argument(
        "--region", metavar="SLUG", help="the region, for a region-level client (a board, admin)"
    )
    cadd.add_argument(
        "--scopes",
        required=True,
        help=f"the scopes, separated by spaces or commas; any of: {', '.join(SCOPES)} "
        "(coop:admin only for a region-level client)",
    )
    cadd.add_argument("--name", default="api client", help="a name to tell clients apart")
    cadd.set_defaults(fn=cmd_clients_add)

    settle = sub.add_parser(
        "settle",
        help="settle a region's month now",
        description="Open the settlement run of a region's month and carry it out in this "
        "process (waiting while a worker holds the region); prints the run as JSON, exit 0 when "
        "it completed. " + DATABASE_ENV,
    )
    settle.add_argument("--region", required=True, help="the region's slug")
    settle.add_argument("--period", required=True, help="the month, YYYY-MM (it must have ended)")
    settle.set_defaults(fn=cmd_settle)

    from coop.bookings.csv_layout import CSV_HELP

    imp = sub.add_parser(
        "import-placements",
        help="record placements that already exist, from a CSV file (all or nothing)",
        description="The CSV twin of POST /bookings/import: every row becomes an active or "
        "ended booking; every row's requester and bed must lie in one region (the first row's "
        "requester's). All or nothing: "
        "a bad file prints the problem (its errors by row) on stderr, exits 1 and writes "
        "nothing; a good one prints the bookings' ids. " + CSV_HELP + " " + DATABASE_ENV,
    )
    imp.add_argument("file", metavar="FILE.csv", help="the CSV file (UTF-8, with a header row)")
    imp.set_defaults(fn=cmd_import_placements)

    ttl = Settings().token_ttl_seconds
    keys = sub.add_parser(
        "keys",
        help="token signing keys: show, rotate, prune",
        description="The RS256 keys that sign access tokens; every key in the set verifies "
        "(they are published at /.well-known/jwks.json). show: print the signing key's kid "
        "and every kid in the set. rotate: put a new key first, to sign from now on; the old "
        "keys stay in the set, so tokens they signed keep verifying until they expire. prune: "
        "drop the retired keys whose tokens have all expired (retired longer ago than one "
        f"token lifetime, COOP_TOKEN_TTL_SECONDS, default {ttl} s); the signing key stays. A "
        "running server notices the key file changed and reloads it. Reads COOP_JWKS (a JWK "
        "set given by configuration: rotate and prune it there), else COOP_JWKS_FILE, else "
        "DATA_DIR/keys/jwks.json (made on first use, in a data directory that holds a "
        "database: see `coop init`).",
    )
    keys.add_argument(
        "keys_command",
        metavar="ACTION",
        choices=["show", "rotate", "prune"],
        nargs="?",
        default="show",
        help="show, rotate or prune",
    )
    keys.set_defaults(fn=cmd_keys)

    bench = sub.add_parser(
        "bench",
        help="benchmarks (start their own server)",
        description="Run a benchmark and print its report. With COOP_DATABASE_URL and "
        "COOP_REDIS_URL set it uses those servers (a new database beside COOP_DATABASE_URL's, "
        "dropped after: the role needs CREATEDB); else an embedded PostgreSQL and Redis in a "
        "temporary directory, never the data directory. Each option names the suite it "
        "applies to.",
    )
    bench.add_argument(
        "suite",
        choices=["bookings", "settlement", "reports"],
        help="bookings (the booking API's throughput and latency), settlement (a month's "
        "settlement of every region) or reports (the reports' queries on years of history)",
    )
    bench.add_argument(
        "--clients", type=int, default=32, help="bookings: concurrent requests in all (closed loop)"
    )
    bench.add_argument(
        "--processes", type=int, default=2, help="bookings: load generator processes"
    )
    bench.add_argument(
        "--seconds", type=float, default=15.0, help="bookings: seconds of each measurement"
    )
    bench.add_argument("--homes", type=int, default=200, help="bookings: homes of four beds each")
    bench.add_argument(
        "--workers",
        type=int,
        default=1,
        help="bookings: API processes of the server; above 1, measured with 1 and then N "
        "processes in the same run",
    )
    bench.add_argument(
        "--rate",
        type=float,
        help="bookings: an open loop at this many requests/s (Poisson arrivals), instead of "
        "the closed loop (default: the closed loop, then an open loop at half its rate)",
    )
    bench.add_argument("--regions", type=int, default=9, help="settlement: regions")
    bench.add_argument("--authorities", type=int, default=153, help="settlement: in all")
    bench.add_argument("--beds", type=int, default=12_000, help="settlement: beds in all")
    bench.add_argument(
        "--placements", type=int, default=6_000, help="settlement: between two authorities"
    )
    bench.add_argument("--month", help="settlement: YYYY-MM (default: the month before last)")
    bench.add_argument(
        "--scale", type=float, default=1.0, help="reports: × 3,000 homes and 12,000 beds"
    )
    bench.add_argument("--seed", type=int, default=1, help="reports: the data's random seed")
    bench.add_argument("--years", type=int, default=5, help="reports: years of history")
    bench.add_argument("--runs", type=int, default=10, help="reports: timed runs of each")
    bench.add_argument("--today", help="reports: YYYY-MM-DD, the last day (default: today)")
    bench.add_argument(
        "--keep", action="store_true", help="reports: keep the bench's database (to profile it)"
    )
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if getattr(args, "data_dir", None):  # `coop --data-dir DIR cmd` or `coop demo --data-dir`
        settings = settings.replace(data_dir=args.data_dir)
    _configure_logging(settings)
    _exit_on_sigterm()
    try:
        return int(args.fn(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
