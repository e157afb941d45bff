"""A webhook receiver for Alertmanager: appends each notification to a JSON Lines file.

Alertmanager's webhook posts one JSON document per notification (a group of alerts) to
``/RECEIVER``; this server keeps them, with the path they came to, so that a person (or a test)
can see what was delivered to whom. It is what ``slotguard stack up`` runs behind the
``investigators`` and ``it`` receivers of ``alerts/alertmanager.yml``; a deployment points those
receivers at its real channels instead. Loopback only.

``python -m alerts.receiver --port 9095 --out var/stack/notifications.jsonl``
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class Receiver:
    """Keeps every notification received (in memory, and in ``out`` when given)."""

    def __init__(self, port: int, out: Path | None = None, address: str = "127.0.0.1") -> None:
        self.out = out
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                """Readiness, and the notifications received so far as JSON."""
                body = json.dumps(receiver.received()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                try:
                    doc = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.keep({"receiver_path": self.path, "received_at": time.time(), "notification": doc})
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug(format, *args)

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def keep(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.notifications.append(row)
            if self.out is not None:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                with self.out.open("a") as stream:
                    stream.write(json.dumps(row) + "\n")

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.notifications)

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts.receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--out", type=Path, required=True, help="JSON Lines file the notifications are appended to")
    args = parser.parse_args(argv)
    receiver = Receiver(args.port, args.out)
    try:
        receiver.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
