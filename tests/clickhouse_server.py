"""A throwaway ClickHouse server for tests and benchmarks: ``scripts/clickhouse.sh`` on ports of its own.

Debian's ``clickhouse-server``, run as the current user on 127.0.0.1 with its data under
``directory``; :meth:`ClickHouseServer.stop` leaves nothing of it running. The storage tests, the
stream history test and the storage and console benchmarks each use one, on their own ports.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "clickhouse.sh"


@dataclass(frozen=True)
class ClickHouseServer:
    """A private server: where it is and how to start, stop and probe it (tests inject faults with it)."""

    directory: Path
    tcp_port: int
    http_port: int
    #: seconds a start or stop may take (a server reopening a large store takes a while to answer)
    timeout_s: float = 90.0

    @property
    def base_url(self) -> str:
        """The store URL of the server without a database: append ``/DATABASE``."""
        return f"clickhouse://default:@127.0.0.1:{self.tcp_port}"

    def _run(self, action: str) -> str:
        env = {
            **os.environ,
            "CH_TCP_PORT": str(self.tcp_port),
            "CH_HTTP_PORT": str(self.http_port),
            "CH_START_TIMEOUT": str(round(self.timeout_s)),
        }
        done = subprocess.run(
            [str(SCRIPT), action, str(self.directory)],
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout_s + 30,
            check=False,
        )
        if done.returncode != 0 and action != "status":
            raise RuntimeError(f"clickhouse.sh {action} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip() if done.returncode == 0 else ""

    def start(self) -> None:
        """Start it (idempotent) and wait until it answers queries."""
        self._run("start")

    def stop(self) -> None:
        """Stop it and wait until nothing of it is left running."""
        self._run("stop")

    def running(self) -> bool:
        return bool(self._run("status"))
