"""The ``finrail`` command line.

Every command reads the same settings as the server (``--config`` or ``FINRAIL_CONFIG``, then
``FINRAIL_*`` variables), so a command run beside a server acts on the same database. Errors
are one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from gateway.settings import PlatformSettings, Settings, SettingsError, load_settings

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """The command cannot do what was asked; the message says why."""


def _print_json(value: Any) -> None:
    print(json.dumps(msgspec.to_builtins(value), indent=2, sort_keys=True))


def _run(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Start the gateway's services (migrating if allowed), run ``work``, close cleanly."""
    from gateway.app import create_app

    async def go() -> int:
        gateway = create_app(settings)
        await gateway.startup()
        try:
            return await work(gateway)
        finally:
            await gateway.shutdown()

    return asyncio.run(go())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.logging import configure_logging

    configure_logging(settings.logging)
    settings = _events_to_self(settings)
    app = create_app(settings, warm_sandboxes=True)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        lifespan="on",
        log_config=None,
        access_log=settings.logging.access_log,
        timeout_graceful_shutdown=int(settings.server.graceful_timeout_seconds),
        server_header=False,
    )
    print(
        f"finrail serving on http://{settings.server.host}:{settings.server.port} "
        f"(data: {settings.data_dir}, database: {settings.database_url.split('@')[-1]})",
        file=sys.stderr,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def _events_to_self(settings: Settings) -> Settings:
    """Point each embedded sandbox's webhooks at this server's ``/events/<platform>``.

    That is what a real platform is configured to do; a sandbox with its own ``webhook_url``
    keeps it, and platforms with a ``base_url`` are real and configured on their side.
    """
    from gateway.platforms import PLATFORMS

    host = "127.0.0.1" if settings.server.host in ("0.0.0.0", "::", "") else settings.server.host
    base = f"http://{host}:{settings.server.port}"
    platforms = dict(settings.platforms)
    for name in (spec.name for spec in PLATFORMS):
        configured = platforms.get(name) or PlatformSettings()
        if configured.base_url or "webhook_url" in configured.sandbox:
            continue
        sandbox = {**configured.sandbox, "webhook_url": f"{base}/events/{name}"}
        platforms[name] = msgspec.structs.replace(configured, sandbox=sandbox)
    return msgspec.structs.replace(settings, platforms=platforms)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import create_app
    from gateway.logging import configure_logging

    configure_logging(settings.logging)
    settings = msgspec.structs.replace(
        settings, server=msgspec.structs.replace(settings.server, embedded_worker=True))

    async def go() -> int:
        gateway = create_app(settings)
        gateway.worker_name = args.name
        await gateway.startup()
        try:
            worker = gateway.worker
            if worker is None:
                raise CommandError("no flows are installed; there is nothing for a worker to run")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            target = settings.flows.system_url or "the system APIs in this process"
            print(f"finrail worker {worker.name}: {len(gateway.runtime.engine.flows)} flows, calling {target}",
                  file=sys.stderr)
            if not settings.flows.system_url and gateway.platforms.sandboxes:
                print("finrail worker: note: without [flows] system_url this worker runs its own embedded "
                      "sandboxes; point it at the serving gateway to share theirs", file=sys.stderr)
            await stop.wait()
            return 0
        finally:
            await gateway.shutdown()

    return asyncio.run(go())


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from gateway.app import create_app
    from gateway.demo import DemoError, DemoSize, run_demo

    settings = msgspec.structs.replace(
        settings, server=msgspec.structs.replace(settings.server, embedded_worker=True))
    size = DemoSize(suppliers=args.suppliers, reports=args.reports, requisitions=args.requisitions,
                    invoices=args.invoices)

    async def go() -> int:
        gateway = create_app(settings, warm_sandboxes=True)
        await gateway.startup()
        try:
            print(f"finrail demo: a day of finance work (data: {settings.data_dir})", file=sys.stderr)
            await run_demo(gateway, sys.stderr, size, deadline_seconds=args.deadline)
            return 0
        except (DemoError, httpx.HTTPError) as exc:
            raise CommandError(f"the demo stopped: {exc}") from None
        finally:
            await gateway.shutdown()

    return asyncio.run(go())


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.migrations import upgrade_sync

    upgrade_sync(settings.database_url)
    print(f"database at head: {settings.database_url.split('@')[-1]}")
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import create_app
    from gateway.openapi import check_documents, export_documents

    gateway = create_app(settings)
    root = Path(args.root)
    if args.action == "export":
        for path in export_documents(gateway.apis, gateway.catalog, root):
            print(f"wrote {path}")
        return 0
    problems = check_documents(gateway.apis, gateway.catalog, root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(gateway.catalog.apis)} documents match the code")
    return 1 if problems else 0


def _clients(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.admin import ClientView, client_view
    from gateway.operator import operator_change

    async def work(gateway: Any) -> int:
        services = gateway.services
        clients = services.clients
        if args.action == "list":
            records = await clients.list(limit=10_000)
            views = [client_view(r) for r in records]
            if args.json:
                _print_json(views)
            else:
                for item in views:
                    print(f"{item.client_id}  {item.status:8}  {item.tier:8}  {item.name}  [{' '.join(item.scopes)}]")
            return 0
        secret: str | None = None
        view: ClientView
        if args.action == "create":
            unknown = set(args.scope) - set(gateway.catalog.scopes)
            if unknown:
                known = ", ".join(sorted(gateway.catalog.scopes))
                raise CommandError(f"unknown scopes {sorted(unknown)}; known: {known}")
            if args.tier not in settings.throttling.tiers:
                raise CommandError(f"unknown tier {args.tier!r}; known: {', '.join(settings.throttling.tiers)}")
            async with operator_change(services, "create_client") as (conn, call):
                record, secret = await clients.create(args.name, tuple(args.scope), args.tier, conn=conn)
                view = client_view(record)
                await services.audit.record_change(
                    conn, call, resource_ids={"client_id": record.client_id}, before=None,
                    after=msgspec.to_builtins(view), outcome=201,
                )
        else:
            operation = {"rotate": "rotate_client_secret", "disable": "disable_client"}[args.action]
            async with operator_change(services, operation) as (conn, call):
                before = await clients.get(args.client_id, conn=conn)
                if before is None:
                    raise CommandError(f"no client {args.client_id}")
                if args.action == "rotate":
                    rotated = await clients.rotate(args.client_id, conn=conn)
                    assert rotated is not None
                    record, secret = rotated
                else:
                    disabled = await clients.disable(args.client_id, conn=conn)
                    assert disabled is not None
                    record = disabled
                view = client_view(record)
                await services.audit.record_change(
                    conn, call, resource_ids={"client_id": record.client_id},
                    before=msgspec.to_builtins(client_view(before)), after=msgspec.to_builtins(view),
                )
        if args.json:
            out: dict[str, Any] = {"client_id": view.client_id, "client": msgspec.to_builtins(view)}
            if secret is not None:
                out["client_secret"] = secret
            _print_json(out)
        else:
            print(f"client_id:     {view.client_id}")
            if secret is not None:
                print(f"client_secret: {secret}   (shown once: store it now)")
            print(f"status:        {view.status}")
        return 0

    return _run(settings, work)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    async def work(gateway: Any) -> int:
        services = gateway.services
        client = await services.clients.get(args.client_id)
        if client is None or client.status != "active":
            raise CommandError(f"no active client {args.client_id}")
        issued = await services.tokens.issue(client, " ".join(args.scope) if args.scope else None)
        if args.json:
            _print_json(issued)
        else:
            print(issued.access_token)
        return 0

    return _run(settings, work)


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    async def work(gateway: Any) -> int:
        log = gateway.services.audit
        if args.action == "verify":
            result = await log.verify()
            if result.ok:
                print(f"OK: {result.records} records, chain intact")
                return 0
            print(f"BROKEN at sequence {result.first_broken_seq}: {result.reason}", file=sys.stderr)
            return 1
        count = await log.export(out)
        print(f"exported {count} records", file=sys.stderr)
        return 0

    if args.action == "verify" or args.output in (None, "-"):
        out = sys.stdout
        return _run(settings, work)
    with open(args.output, "w", encoding="utf-8") as out:
        return _run(settings, work)


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    async def work(gateway: Any) -> int:
        kid = await gateway.services.keys.rotate()
        print(f"new signing key {kid}; the previous key stays published until its tokens expire")
        return 0

    return _run(settings, work)


def _flows(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from gateway.operator import operator_change
    from process_apis.flow.queues import InstanceBusy, act
    from process_apis.flow.store import InstanceFilter
    from process_apis.flow.views import instance_view, timeline_view

    # The command changes the database and exits; the server's worker runs what it woke up.
    settings = msgspec.structs.replace(settings, server=msgspec.structs.replace(settings.server, embedded_worker=False))

    async def work(gateway: Any) -> int:
        engine = gateway.runtime.engine
        store = engine.store
        if args.action == "list":
            found = await store.instances(
                InstanceFilter(flow=args.flow, status=args.status, reason=args.reason), limit=args.limit)
            views = [instance_view(instance, engine.flows.get(instance.flow)) for instance in found]
            if args.json:
                _print_json(views)
            else:
                for item in views:
                    print(f"{item.id}  {item.flow:24}  {item.status:12}  {item.reason or '-':24}  "
                          f"{item.created_at:%Y-%m-%d %H:%M:%S}  {item.key}")
            return 0
        instance = await store.get(args.instance_id)
        if instance is None:
            raise CommandError(f"no flow instance {args.instance_id}")
        before = instance_view(instance, engine.flows.get(instance.flow))
        if args.action == "show":
            timeline = [timeline_view(entry) for entry in await store.timeline(instance_id=instance.id)]
            if args.json:
                _print_json({"instance": before, "timeline": timeline})
                return 0
            for label, value in (("id", before.id), ("flow", before.flow), ("key", before.key),
                                 ("status", before.status), ("step", before.step), ("reason", before.reason),
                                 ("detail", before.detail), ("attempts", before.attempts),
                                 ("correlation_id", before.correlation_id), ("created_at", before.created_at),
                                 ("finished_at", before.finished_at)):
                print(f"{label + ':':16}{'-' if value is None else value}")
            print("timeline:")
            for entry in timeline:
                step = f" [{entry.step}]" if entry.step else ""
                detail = f"  {entry.detail}" if entry.detail else ""
                print(f"  {entry.at:%Y-%m-%d %H:%M:%S}  {entry.kind}{step}{detail}")
            return 0
        if instance.flow not in engine.flows:
            raise CommandError(f"flow {instance.flow} is not run by this deployment; its instances cannot be acted on")
        try:
            changed = await act(engine, instance.id, args.action, actor="operator:" + getpass.getuser(),
                                note=args.note, decision=getattr(args, "decision", None))
        except InstanceBusy as exc:
            raise CommandError(str(exc)) from None
        if changed is None:
            raise CommandError(f"no flow instance {args.instance_id}")
        after = instance_view(changed, engine.flows.get(changed.flow))
        services = gateway.services
        async with operator_change(services, f"{args.action}_flow_instance") as (conn, call):
            await services.audit.record_change(
                conn, call, resource_ids={"instance_id": instance.id}, before=msgspec.to_builtins(before),
                after=msgspec.to_builtins(after),
            )
        if args.json:
            _print_json(after)
        else:
            print(f"{after.id}: {args.action} recorded; now {after.status}"
                  + (f" at step {after.step}" if after.step else ""))
        return 0

    return _run(settings, work)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finrail", description="Finrail: a governed API layer for finance platforms.")
    parser.add_argument("--config", help="settings file (TOML); default: $FINRAIL_CONFIG, else built-in defaults")
    parser.add_argument("--data-dir", help="directory for the embedded database (default ./.finrail)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (embedded default: SQLite, in-memory throttling)")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run a flow worker alone (several may share one database)")
    worker.add_argument("--name", help="lease owner name shown on timelines (default host:pid:random)")
    worker.set_defaults(handler=_worker)

    demo = commands.add_parser("demo", help="drive a realistic day through the sandboxes and print the KPIs")
    demo.add_argument("--suppliers", type=int, default=12, help="suppliers to onboard (default 12)")
    demo.add_argument("--reports", type=int, default=24, help="expense reports to post (default 24)")
    demo.add_argument("--requisitions", type=int, default=10, help="requisitions to check (default 10)")
    demo.add_argument("--invoices", type=int, default=8, help="supplier invoices to match (default 8)")
    demo.add_argument("--deadline", type=float, default=300.0, help="seconds to wait for the flows (default 300)")
    demo.set_defaults(handler=_demo)

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(handler=_db_upgrade)

    openapi = commands.add_parser("openapi", help="export or check the published OpenAPI documents")
    openapi.add_argument("action", choices=["export", "check"])
    openapi.add_argument("--root", default=".", help="repository root holding openapi/ (default .)")
    openapi.set_defaults(handler=_openapi)

    clients = commands.add_parser("clients", help="manage API clients")
    client_actions = clients.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = client_actions.add_parser("create", help="register a client and print its secret once")
    create.add_argument("name")
    create.add_argument("--scope", action="append", required=True, help="scope the client may request (repeat)")
    create.add_argument("--tier", default="bronze", help="SLA tier (default bronze)")
    create.add_argument("--json", action="store_true", help="print JSON")
    listing = client_actions.add_parser("list", help="list clients")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("rotate", "replace a client's secret"), ("disable", "disable a client")):
        sub = client_actions.add_parser(action, help=text)
        sub.add_argument("client_id")
        sub.add_argument("--json", action="store_true", help="print JSON")
    clients.set_defaults(handler=_clients)

    token = commands.add_parser("token", help="issue an access token for a client (operator shortcut)")
    token.add_argument("client_id")
    token.add_argument("--scope", action="append", help="restrict to this scope (repeat)")
    token.add_argument("--json", action="store_true", help="print the whole token response as JSON")
    token.set_defaults(handler=_token)

    audit = commands.add_parser("audit", help="verify or export the audit trail")
    audit.add_argument("action", choices=["verify", "export"])
    audit.add_argument("--output", "-o", help="export file (default: standard output)")
    audit.set_defaults(handler=_audit)

    keys = commands.add_parser("keys", help="token signing keys")
    keys.add_argument("action", choices=["rotate"])
    keys.set_defaults(handler=_keys)

    flows = commands.add_parser("flows", help="flow instances: list, show, act on the exception and dead-letter queues")
    flow_actions = flows.add_subparsers(dest="action", required=True, metavar="ACTION")
    flow_list = flow_actions.add_parser("list", help="list instances, newest first")
    flow_list.add_argument("--flow", help="only this flow")
    flow_list.add_argument("--status", help="only this status (exception: the finance exception queue; dead: the "
                           "dead-letter queue)",
                           choices=["active", "exception", "dead", "compensating", "completed", "cancelled"])
    flow_list.add_argument("--reason", help="only this reason code")
    flow_list.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    flow_list.add_argument("--json", action="store_true", help="print JSON")
    flow_show = flow_actions.add_parser("show", help="one instance with its timeline")
    flow_show.add_argument("instance_id")
    flow_show.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("retry", "run the stopped step again unchanged"),
                         ("replay", "run the flow again from its first step (creates are not repeated)"),
                         ("resolve", "record a decision for a step a business rule stopped, and run it again"),
                         ("cancel", "undo the completed steps that have a compensation, then stop")):
        sub = flow_actions.add_parser(action, help=text)
        sub.add_argument("instance_id")
        if action == "resolve":
            sub.add_argument("--decision", required=True, help="the decision (approve, merge, ...; the flow says)")
        sub.add_argument("--note", default="", help="why, for the instance's timeline")
        sub.add_argument("--json", action="store_true", help="print the instance after the action as JSON")
    flows.set_defaults(handler=_flows)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``finrail`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    if getattr(args, "host", None) or getattr(args, "port", None):
        overrides["server"] = {
            **({"host": args.host} if args.host else {}),
            **({"port": args.port} if args.port else {}),
        }
    try:
        settings = load_settings(args.config, **overrides)
        handler: Handler = args.handler
        return handler(args, settings)
    except (SettingsError, CommandError) as exc:
        print(f"finrail: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
