"""State for the streaming shell: the core's mappings, written behind to a table once per tick.

Each partition's stores (accounts, slots, devices... and the detector's verdicts and reference
rows) are :class:`TickStore` mappings over one backend (a Faust table in the worker, a dict in
tests). Reads come from a local cache, else the backend; writes stay in the cache. When the
partition completes a tick, :meth:`TickStore.seal` encodes every key the tick changed; the shell
later writes all sealed keys in one go (``drain``), with the partition's :class:`Progress`, and
only then lets the consumed offsets commit.

Writes are *versioned* so that a crash half-way through writing never leaves a mix of two ticks:
each stored value carries the tick it was written after and the value it replaced (as of the
last tick written before). A partition that starts again from its stored progress (tick K) reads,
for every key written after K, the value it had at K.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, Protocol, TypeVar

import msgspec
import numpy as np

from models.population import Reference

V = TypeVar("V")

#: separates a store's name from the key in the backend
SEP = "\x1f"


class Versioned(msgspec.Struct, array_like=True, frozen=True):
    """A stored value: written after ``tick``; ``previous`` is what it replaced (None: nothing)."""

    tick: int
    value: bytes | None
    previous: bytes | None


_versioned_encoder = msgspec.msgpack.Encoder()
_versioned_decoder = msgspec.msgpack.Decoder(Versioned)


class Backend(Protocol):
    """Where one partition's sealed state goes: get one key; write many; list keys by prefix."""

    def get(self, key: str) -> bytes | None: ...

    def write(self, items: list[tuple[str, bytes]]) -> None: ...

    def keys(self, prefix: str) -> Iterator[str]: ...


class DictBackend:
    """A backend in memory (tests; a worker's restart is simulated by keeping it)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def write(self, items: list[tuple[str, bytes]]) -> None:
        self.data.update(items)

    def keys(self, prefix: str) -> Iterator[str]:
        return (k for k in list(self.data) if k.startswith(prefix))


class Codec(Generic[V]):
    """Bytes to a store's values and back."""

    def __init__(self, encode: Callable[[V], bytes], decode: Callable[[bytes], V]) -> None:
        self.encode = encode
        self.decode = decode

    @classmethod
    def for_type(cls, kind: Any) -> Codec[Any]:
        encoder = msgspec.msgpack.Encoder()
        decoder = msgspec.msgpack.Decoder(kind)
        return cls(encoder.encode, decoder.decode)


_MISSING = object()


class TickStore(MutableMapping[str, V]):
    """A mapping for the core over a backend, versioned by tick (see the module docstring)."""

    def __init__(self, name: str, backend: Backend, codec: Codec[V]) -> None:
        self.name = name
        self.prefix = name + SEP
        self.backend = backend
        self.codec = codec
        #: the last tick whose state is in the backend (reads of later writes see their previous value)
        self.durable_tick: int | None = None
        self._cache: dict[str, Any] = {}
        #: encoded value as of ``durable_tick`` of every key changed since (None: absent then)
        self._base: dict[str, bytes | None] = {}
        self._changed: dict[str, None] = {}
        self._sealed: dict[str, bytes | None] = {}
        self._all_keys_loaded = False

    # -------------------------------------------------------------- reading
    def _stored(self, key: str) -> bytes | None:
        raw = self.backend.get(self.prefix + key)
        if raw is None:
            return None
        versioned = _versioned_decoder.decode(raw)
        if self.durable_tick is not None and versioned.tick > self.durable_tick:
            return versioned.previous  # written by an attempt that did not complete
        return versioned.value

    def _load(self, key: str) -> Any:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            raw = self._stored(key)
            value = None if raw is None else self.codec.decode(raw)
            self._cache[key] = value
        return value

    def __getitem__(self, key: str) -> V:
        value = self._load(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._load(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._load(key) is not None

    def __iter__(self) -> Iterator[str]:
        if not self._all_keys_loaded:
            for full in self.backend.keys(self.prefix):
                self._load(full[len(self.prefix) :])
            self._all_keys_loaded = True
        return iter([k for k, v in self._cache.items() if v is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # -------------------------------------------------------------- writing
    def _changing(self, key: str) -> None:
        if key not in self._base:
            self._base[key] = self._stored(key)  # what the backend holds as of ``durable_tick``
        self._changed[key] = None

    def __setitem__(self, key: str, value: V) -> None:
        self._changing(key)
        self._cache[key] = value

    def __delitem__(self, key: str) -> None:
        if self._load(key) is None:
            raise KeyError(key)
        self._changing(key)
        self._cache[key] = None

    def seal(self) -> int:
        """Encode what the tick just completed changed (later changes belong to the next tick)."""
        encode = self.codec.encode
        for key in self._changed:
            value = self._cache[key]
            self._sealed[key] = None if value is None else encode(value)
        n = len(self._changed)
        self._changed.clear()
        return n

    def drain(self, tick: int) -> list[tuple[str, bytes]]:
        """The sealed writes, as backend items stamped with ``tick``; the store is durable at it after."""
        base = self._base
        items = [
            (self.prefix + key, _versioned_encoder.encode(Versioned(tick, value, base.get(key))))
            for key, value in self._sealed.items()
        ]
        # from now on the durable value of these keys is what was just written
        for key, value in self._sealed.items():
            if key in self._changed:
                base[key] = value
            else:
                del base[key]
        self._sealed.clear()
        self.durable_tick = tick
        return items


# ------------------------------------------------------------------ detector values
def _encode_row(row: tuple[str, float, np.ndarray]) -> bytes:
    return _versioned_encoder.encode((row[0], row[1], row[2].tolist()))


_row_decoder = msgspec.msgpack.Decoder(tuple[str, float, list[int]])


def _decode_row(raw: bytes) -> tuple[str, float, np.ndarray]:
    site, weight, bins = _row_decoder.decode(raw)
    return site, weight, np.asarray(bins, dtype=np.int64)


ROW_CODEC: Codec[tuple[str, float, np.ndarray]] = Codec(_encode_row, _decode_row)

_reference_decoder = msgspec.msgpack.Decoder(list[list[float]])

REFERENCE_CODEC: Codec[Reference] = Codec(
    lambda ref: _versioned_encoder.encode([c.tolist() for c in ref.counts]),
    lambda raw: Reference([np.asarray(c, dtype=np.float64) for c in _reference_decoder.decode(raw)]),
)
