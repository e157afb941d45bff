"""Store URLs: ``chdb:PATH`` (embedded, the default) or ``clickhouse://USER:PASS@HOST:PORT/DB`` (server).

One string says where history lives, whatever the command: ``--store``, ``$SLOTGUARD_STORE`` or the
config file's ``store`` all carry it. Parsing is strict so that a typo fails at start with a message,
not later with a confusing connection error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from storage.errors import StoreUrlError

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "slotguard"
DEFAULT_PORT = 9000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVER_PARAMS = {"secure", "connect_timeout", "send_receive_timeout"}


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL. ``kind`` is ``"chdb"`` or ``"server"``."""

    kind: str
    database: str = DEFAULT_DATABASE
    path: Path | None = None
    host: str = ""
    port: int = DEFAULT_PORT
    user: str = "default"
    password: str = ""
    secure: bool = False
    connect_timeout_s: float = 3.0
    send_receive_timeout_s: float = 60.0

    def display(self) -> str:
        """The URL without its password, safe for logs and messages."""
        if self.kind == "chdb":
            suffix = "" if self.database == DEFAULT_DATABASE else f"?database={self.database}"
            return f"chdb:{self.path}{suffix}"
        auth = f"{self.user}:***@" if self.password else f"{self.user}@"
        return f"clickhouse://{auth}{self.host}:{self.port}/{self.database}"


def _database(name: str, url: str) -> str:
    if not _IDENT.match(name):
        raise StoreUrlError(f"bad database name {name!r} in store URL {url!r}: use letters, digits and underscores")
    return name


def _parse_chdb(url: str) -> StoreUrl:
    rest = url[len("chdb:") :]
    rest, _, query = rest.partition("?")
    if rest.startswith("///"):
        rest = rest[2:]
    elif rest.startswith("//"):
        raise StoreUrlError(f"store URL {url!r}: write chdb:PATH or chdb:///ABSOLUTE/PATH")
    if not rest:
        raise StoreUrlError(f"store URL {url!r} has no path: write chdb:PATH, e.g. chdb:var/store")
    database = DEFAULT_DATABASE
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "database":
            raise StoreUrlError(f"store URL {url!r}: unknown parameter {key!r} (known: database)")
        database = _database(value, url)
    return StoreUrl(kind="chdb", path=Path(rest).expanduser(), database=database)


def _parse_server(url: str) -> StoreUrl:
    parts = urlsplit(url)
    if not parts.hostname:
        raise StoreUrlError(f"store URL {url!r} has no host: write clickhouse://USER:PASS@HOST:PORT/DB")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise StoreUrlError(f"store URL {url!r} has a bad port") from None
    path = parts.path.strip("/")
    if "/" in path:
        raise StoreUrlError(f"store URL {url!r}: the path must be just a database name")
    database = _database(path or DEFAULT_DATABASE, url)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _SERVER_PARAMS:
            raise StoreUrlError(
                f"store URL {url!r}: unknown parameter {key!r} (known: {', '.join(sorted(_SERVER_PARAMS))})"
            )
        params[key] = value
    try:
        connect_timeout = float(params.get("connect_timeout", 3.0))
        send_receive_timeout = float(params.get("send_receive_timeout", 60.0))
    except ValueError:
        raise StoreUrlError(f"store URL {url!r}: timeouts must be numbers of seconds") from None
    return StoreUrl(
        kind="server",
        database=database,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        secure=params.get("secure", "0").lower() in ("1", "true", "yes"),
        connect_timeout_s=connect_timeout,
        send_receive_timeout_s=send_receive_timeout,
    )


def parse_store_url(url: str) -> StoreUrl:
    """Parse a store URL; raise StoreUrlError saying what is wrong and what a good one looks like."""
    url = url.strip()
    if url.startswith("chdb:"):
        return _parse_chdb(url)
    if url.startswith("clickhouse://"):
        return _parse_server(url)
    raise StoreUrlError(
        f"unsupported store URL {url!r}: use chdb:PATH (embedded) or clickhouse://USER:PASS@HOST:PORT/DB"
    )
