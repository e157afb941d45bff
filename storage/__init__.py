"""History in ClickHouse: one schema and one set of queries over chDB (embedded) or a server.

Storage is a leaf: the wiring (``slotguard detect``, the investigator commands) opens a store with
:func:`open_store` and plugs its :class:`HistoryWriter` into the detect loop; the feature core never
imports this package. See ``docs/storage.md`` for the schema, keys and fault behaviour.
"""

from storage.errors import StoreError, StoreQueryError, StoreUnavailable, StoreUrlError, UnknownAccount
from storage.retention import Partition
from storage.store import DECISIONS, HANDOFF_WINDOW_S, Store, open_store
from storage.url import StoreUrl, parse_store_url
from storage.writer import HistoryWriter, TableReport, WriteReport

__all__ = [
    "DECISIONS",
    "HANDOFF_WINDOW_S",
    "HistoryWriter",
    "Partition",
    "Store",
    "StoreError",
    "StoreQueryError",
    "StoreUnavailable",
    "StoreUrl",
    "StoreUrlError",
    "TableReport",
    "UnknownAccount",
    "WriteReport",
    "open_store",
    "parse_store_url",
]
