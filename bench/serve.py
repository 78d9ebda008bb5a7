"""Serve one benchmarked app with uvicorn, one worker pinned to one CPU core.

Started by ``run.py`` (not meant to be run by hand, though it can be)::

    python bench/serve.py --app gateway --port 8101 --data-dir /tmp/x --cpu 0

The uvicorn configuration is the one ``finrail serve`` uses (no access log, no server header,
lifespan on), so the gateway is measured the way it is deployed.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import uvicorn
from apps import bare_app, bench_settings, erp_sandbox_app, gateway_app, plain_app

from gateway.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", choices=("bare", "plain", "gateway", "erp-sandbox"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=0, help="the one core the server may run on")
    parser.add_argument("--data-dir", help="gateway data directory (prepared by run.py)")
    parser.add_argument("--throttle", default="memory://", help="throttling storage URL")
    parser.add_argument("--ungoverned", action="store_true", help="bench API with enabled = []")
    parser.add_argument("--enabled", help="comma-separated policies to run on the bench API (default: all)")
    parser.add_argument("--erp", help="[platforms.erp] settings as JSON (gateway), or the sandbox's data file")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})

    app: Any
    if args.app == "bare":
        app = bare_app
    elif args.app == "plain":
        app = plain_app()
    elif args.app == "erp-sandbox":
        app = erp_sandbox_app(args.erp)
    else:
        governed = not args.ungoverned
        enabled = tuple(filter(None, args.enabled.split(","))) if args.enabled is not None else None
        erp = json.loads(args.erp) if args.erp else None
        settings = bench_settings(args.data_dir, throttle=args.throttle, governed=governed, enabled=enabled, erp=erp)
        configure_logging(settings.logging)
        app = gateway_app(args.data_dir, throttle=args.throttle, governed=governed, enabled=enabled, erp=erp)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
