"""Two ways to reach ClickHouse behind one small interface: embedded chDB, or a server over TCP.

Everything above this module speaks one SQL dialect and calls :class:`Backend`'s four methods:
``command`` (DDL, ALTER), ``query`` (rows as tuples of Python values), ``insert`` (one columnar
batch) and ``close``. Errors are mapped to :class:`StoreUnavailable` (transient: the writer
retries) or :class:`StoreQueryError` (permanent).

chDB runs one embedded engine per process, bound to one directory, and refuses a second directory
while a connection to the first is open; it also keeps other processes out of that directory. The
registry below shares the engine between stores opened on the same path and turns both limits into
clear messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import msgspec
from clickhouse_driver import Client, errors

from storage.errors import StoreError, StoreQueryError, StoreUnavailable
from storage.url import StoreUrl

log = logging.getLogger(__name__)
# the driver logs each failed connection attempt as a warning with a traceback; our errors say it once
logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)

#: server error codes that mean "try again later", not "this statement is wrong"
RETRYABLE_SERVER_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED (server shutting down)
        425,  # SYSTEM_ERROR
    }
)


class Backend(Protocol):
    """The four operations the store needs; one implementation per kind of ClickHouse."""

    kind: str
    url: StoreUrl

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, ALTER, INSERT ... SELECT)."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a SELECT; rows as tuples (ints, floats, strings, lists, None)."""

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """Insert one columnar batch into a fully qualified table."""

    def version(self) -> str:
        """The engine's version string, e.g. ``18.16.1`` or ``26.9.2.1``."""

    def close(self) -> None:
        """Release the connection (idempotent)."""


# --- chDB -------------------------------------------------------------------------------------

_engine_lock = threading.Lock()
_engine_path: Path | None = None
_engine_refs = 0


class ChdbBackend:
    """Embedded ClickHouse (chDB) on a directory, shared by all stores on that path in this process."""

    kind = "chdb"

    def __init__(self, url: StoreUrl, *, create: bool) -> None:
        global _engine_path, _engine_refs
        assert url.path is not None
        self.url = url
        path = url.path.resolve()
        if not path.exists():
            if not create:
                raise StoreUnavailable(
                    f"no embedded store at {path}: nothing has been written there yet (`slotguard detect "
                    f"... --store chdb:{url.path}` or `slotguard store migrate` creates it)"
                )
            path.mkdir(parents=True, exist_ok=True)
        from chdb.state import sqlitelike

        with _engine_lock:
            if _engine_path is not None and _engine_path != path and _engine_refs > 0:
                raise StoreUnavailable(
                    f"cannot open embedded store {path}: this process already has {_engine_path} open, "
                    "and chDB runs one embedded store per process; close that store first"
                )
            try:
                # 64-bit integers as JSON numbers, so results decode straight to Python ints
                self._conn: Any = sqlitelike.connect(f"{path}?output_format_json_quote_64bit_integers=0")
            except RuntimeError as exc:
                raise StoreUnavailable(
                    f"cannot open embedded store {path}: {_first_line(exc)}. chDB lets one process at a "
                    "time use a store directory: is another slotguard running on it? (a ClickHouse server "
                    "store URL allows concurrent readers and writers)"
                ) from None
            _engine_path = path
            _engine_refs += 1
        self._path = path
        self._closed = False

    def command(self, sql: str) -> None:
        self._run(sql, "TSV")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        result = self._run(sql, "JSONCompact")
        raw = result.bytes()
        if not raw:
            return []
        return [tuple(row) for row in msgspec.json.decode(raw)["data"]]

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        names = list(columns)
        payload = msgspec.json.encode({name: columns[name] for name in names})
        try:
            inserter = self._connection().send_insert(f"INSERT INTO {table} ({', '.join(names)})", "JSONColumns")
            inserter.append(payload)
            inserter.finish()
        except RuntimeError as exc:
            raise StoreQueryError(f"insert into {table} refused: {_first_line(exc)}") from None

    def version(self) -> str:
        return str(self.query("SELECT version()")[0][0])

    def close(self) -> None:
        global _engine_path, _engine_refs
        if self._closed:
            return
        self._closed = True
        with _engine_lock:
            try:
                self._conn.close()
            finally:
                _engine_refs -= 1
                if _engine_refs <= 0:
                    _engine_refs = 0
                    _engine_path = None

    def _connection(self) -> Any:
        if self._closed:
            raise StoreQueryError(f"store {self.url.display()} is closed")
        return self._conn

    def _run(self, sql: str, fmt: str) -> Any:
        try:
            return self._connection().query(sql, fmt)
        except RuntimeError as exc:
            raise StoreQueryError(f"{_first_line(exc)}\n  in: {_short(sql)}") from None


# --- ClickHouse server (native protocol) ----------------------------------------------------


class ServerBackend:
    """A ClickHouse server through clickhouse-driver's native protocol; reconnects on the next call."""

    kind = "server"

    #: batches at least this big are sent as two halves over two connections at once
    PARALLEL_MIN_ROWS = 20_000

    def __init__(self, url: StoreUrl) -> None:
        self.url = url
        self._client = self._new_client()
        self._side: Any = None  # second connection, for halves of big batches
        self._pool: ThreadPoolExecutor | None = None
        try:
            self._version = str(self.query("SELECT version()")[0][0])
        except StoreUnavailable as exc:
            raise StoreUnavailable(
                f"cannot reach the ClickHouse server at {url.host}:{url.port} ({url.display()}): {exc}. "
                "Is it running and listening there? (tests and benchmarks start one with "
                "`scripts/clickhouse.sh start`)"
            ) from None
        except StoreQueryError as exc:
            raise StoreUnavailable(f"the ClickHouse server at {url.display()} refused us: {exc}") from None

    def _new_client(self) -> Any:
        url = self.url
        return Client(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database="default",
            secure=url.secure,
            connect_timeout=url.connect_timeout_s,
            send_receive_timeout=url.send_receive_timeout_s,
            sync_request_timeout=url.connect_timeout_s,
            client_name="slotguard",
        )

    def command(self, sql: str) -> None:
        self._execute(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        rows = self._execute(sql)
        return [tuple(r) for r in rows] if rows else []

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """One columnar INSERT; a big batch goes as two halves over two connections at once, so that
        the driver encoding one half overlaps the server writing the other (about 1.4x on 2 cores).
        Either half failing fails the call; a retry re-sends both, and the table keys make that safe."""
        names = list(columns)
        n = len(columns[names[0]]) if names else 0
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES"
        if n < self.PARALLEL_MIN_ROWS:
            # copies: the driver rewrites Nullable/DateTime items in place, and a retry needs the originals
            self._execute(sql, [list(columns[name]) for name in names], columnar=True)
            return
        half = n // 2
        first = [list(columns[name][:half]) for name in names]
        second = [list(columns[name][half:]) for name in names]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slotguard-insert")
            self._side = self._new_client()
        future = self._pool.submit(self._execute, sql, second, columnar=True, client=self._side)
        error: StoreError | None = None
        try:
            self._execute(sql, first, columnar=True)
        except StoreError as exc:
            error = exc
        try:
            future.result()
        except StoreError as exc:
            if error is None or isinstance(exc, StoreUnavailable):
                error = exc
        if error is not None:
            raise error

    def version(self) -> str:
        return self._version

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._side is not None:
            self._side.disconnect()
        self._client.disconnect()

    def _execute(self, sql: str, data: Any = None, *, columnar: bool = False, client: Any = None) -> Any:
        client = self._client if client is None else client
        try:
            if data is None:
                return client.execute(sql)
            return client.execute(sql, data, columnar=columnar)
        except errors.ServerException as exc:
            message = f"server error {exc.code}: {_first_line(exc.message)}"
            if exc.code in RETRYABLE_SERVER_CODES:
                raise StoreUnavailable(message) from None
            raise StoreQueryError(f"{message}\n  in: {_short(sql)}") from None
        except (errors.NetworkError, errors.SocketTimeoutError, EOFError, OSError) as exc:
            client.disconnect()
            raise StoreUnavailable(_first_line(exc) or type(exc).__name__) from None
        except errors.Error as exc:
            client.disconnect()
            raise StoreUnavailable(f"{type(exc).__name__}: {_first_line(exc)}") from None


def connect(url: StoreUrl, *, create: bool) -> Backend:
    """Open the backend a URL names; raise StoreUnavailable with a clear message if it cannot."""
    if url.kind == "chdb":
        return ChdbBackend(url, create=create)
    return ServerBackend(url)


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _short(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."
