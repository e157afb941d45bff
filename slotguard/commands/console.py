"""``slotguard console``: serve the investigator console (an ASGI app under uvicorn)."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys

from slotguard.commands.store import EXIT_OK, EXIT_STORE, add_store_argument
from slotguard.config import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Serve the investigator console: the queue of flagged accounts, each account's evidence and
timeline, the operation around it, decisions, the site overview, label export, users and the
audit trail. Listens on 127.0.0.1 by default: put a TLS reverse proxy in front of it to serve it to
others (docs/console.md), and pass --https-only there so cookies are sent over HTTPS only.

Users are added with `slotguard users add NAME --role ROLE` first. Sessions are signed with
$SLOTGUARD_CONSOLE_SECRET (or the config file's `console_secret`); without it a random key is made
at start, and sessions end when the console restarts.

examples:
  slotguard users add alice --role investigator --store chdb:var/w/store
  slotguard console --store chdb:var/w/store                 # http://127.0.0.1:8080/
  SLOTGUARD_CONSOLE_SECRET=$(openssl rand -hex 32) slotguard console \\
      --store clickhouse://slotguard_app:PASS@127.0.0.1:9000/slotguard --https-only --proxy-headers

exit codes: 0 stopped, 2 store unreachable or bad settings.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (keep loopback behind a proxy)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--https-only", action="store_true", help="Secure cookies and HSTS (behind a TLS proxy)")
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (the proxy) for client addresses",
    )
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1", help="the reverse proxy's addresses")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from console.app import create_app
    from slotguard.commands.store import _report
    from storage import StoreError, open_store

    secret = settings.console_secret
    if not secret:
        secret = secrets.token_hex(32)
        log.warning("no console secret configured: sessions end when the console restarts")
    try:
        store = open_store(settings.store_url, pseudonym_key=settings.pseudonym_key, create=False)
    except StoreError as exc:
        return _report(exc)
    try:
        app = create_app(store, secret_key=secret, https_only=args.https_only)
    except ValueError as exc:
        store.close()
        print(f"slotguard: {exc}", file=sys.stderr)
        return EXIT_STORE
    print(f"slotguard console on http://{args.host}:{args.port}/ (store {store.url.display()})", flush=True)
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips=args.forwarded_allow_ips if args.proxy_headers else None,
            server_header=False,
            log_level="warning",
        )
    finally:
        store.close()
    return EXIT_OK
