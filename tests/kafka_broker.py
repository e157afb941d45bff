"""A real single-node Apache Kafka broker (KRaft) for integration tests, run by scripts/kafka.sh.

The broker is a separate JVM (Maven Central jars in var/kafka-jars, resolved once by
`scripts/kafka.sh jars`) listening on 127.0.0.1 only, with its config, data and logs in a
directory of its own. `start_broker(tmp_dir, port, controller_port)` starts one and returns a
`KafkaBroker` handle that can stop it, crash it (SIGKILL) and start it again on the same data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka.sh"
JARS_COMMAND = "scripts/kafka.sh jars"
# start waits for the broker inside the script (KAFKA_START_TIMEOUT); this bounds the script itself
SCRIPT_TIMEOUT_S = 120


class KafkaBrokerError(RuntimeError):
    """scripts/kafka.sh failed; the message carries its exit code and what it printed."""


def jars_dir() -> Path:
    return Path(os.environ.get("KAFKA_JARS_DIR", REPO / "var" / "kafka-jars"))


def missing_prerequisites() -> str | None:
    """Why no broker can be started here (with the command that fixes it), or None."""
    if shutil.which("java") is None:
        return "Java is not installed; run: scripts/ensure-apt.sh openjdk-17-jre-headless maven"
    if not (jars_dir() / ".complete").is_file():
        return f"the Kafka broker jars are missing in {jars_dir()}; run: {JARS_COMMAND} (or make kafka-jars)"
    return None


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (exited, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass
class KafkaBroker:
    """Handle on a broker started by scripts/kafka.sh in `directory`, on 127.0.0.1."""

    directory: Path
    port: int
    controller_port: int
    last_start_s: float | None = field(default=None, compare=False)
    topics: set[str] = field(default_factory=set, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / "server.log"

    def _script(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_CONTROLLER_PORT": str(self.controller_port)}
        result = subprocess.run(
            [str(SCRIPT), command, str(self.directory)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            raise KafkaBrokerError(
                f"scripts/kafka.sh {command} {self.directory} exited {result.returncode}:\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def start(self) -> float:
        """Start the broker (idempotent) and wait until it answers metadata and every topic created
        through this handle has a leader for each partition again (after a crash the broker answers
        before it has recovered its logs); returns the seconds it took."""
        began = time.monotonic()
        self._script("start")
        if self.topics:
            self._wait_for_leaders(sorted(self.topics))
        self.last_start_s = time.monotonic() - began
        return self.last_start_s

    def _wait_for_leaders(self, topics: list[str], timeout_s: float = 60.0) -> None:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="slotguard-tests", request_timeout_ms=15000
        )
        try:
            admin.wait_for_topics(topics, timeout_ms=int(timeout_s * 1000))
        finally:
            admin.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ~20 s; returns once no process of the broker is left."""
        self._script("stop")

    def kill(self) -> None:
        """SIGKILL the broker (a crash): no shutdown, no flush beyond what the OS already has."""
        self._script("kill")

    def restart(self) -> float:
        """A clean stop followed by a start on the same data; returns the start's seconds."""
        self.stop()
        return self.start()

    def running(self) -> bool:
        """True when the broker's process is up and answers a metadata request."""
        return self._script("status", check=False).returncode == 0

    def pid(self) -> int | None:
        """The pid of the broker's JVM while it is alive, else None."""
        try:
            pid = int((self.directory / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def create_topic(
        self, name: str, partitions: int, configs: dict[str, str] | None = None, exist_ok: bool = False
    ) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        from kafka.admin import KafkaAdminClient
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="slotguard-tests", request_timeout_ms=15000
        )
        try:
            spec = {name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}}
            try:
                admin.create_topics(spec, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                if not exist_ok:
                    raise
                admin.wait_for_topics([name])
        finally:
            admin.close()
        self.topics.add(name)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_broker(tmp_dir: Path, port: int, controller_port: int) -> KafkaBroker:
    """Start a broker with its data in tmp_dir; on failure nothing of it is left running."""
    missing = missing_prerequisites()
    if missing:
        raise KafkaBrokerError(missing)
    broker = KafkaBroker(Path(tmp_dir), port, controller_port)
    try:
        broker.start()
    except BaseException:
        with contextlib.suppress(KafkaBrokerError, subprocess.TimeoutExpired):
            broker.stop()
        raise
    return broker
