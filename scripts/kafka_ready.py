#!/usr/bin/env python3
"""Readiness probe for a Kafka broker, standard library only (used by scripts/kafka.sh).

Sends one Metadata v1 request (no topics) over a raw socket and exits 0 when the broker answers
with at least one broker in the cluster, 1 otherwise. With --verbose, prints the brokers seen.

    python3 scripts/kafka_ready.py 127.0.0.1:9092 [--timeout 1.0] [--verbose]
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

METADATA_KEY = 3
METADATA_VERSION = 1
CLIENT_ID = b"slotguard-ready"
MAX_RESPONSE = 1 << 20


class ProbeError(Exception):
    """The broker did not answer with a well-formed Metadata response."""


def metadata_request(correlation_id: int) -> bytes:
    # request header v1: api_key, api_version, correlation_id, client_id (int16-length string)
    header = struct.pack(">hhih", METADATA_KEY, METADATA_VERSION, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    body = struct.pack(">i", 0)  # topics: an empty array asks for brokers and controller only
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ProbeError("connection closed by the broker")
        chunks.extend(chunk)
    return bytes(chunks)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProbeError("truncated Metadata response")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        if self.pos + length > len(self.data):
            raise ProbeError("truncated Metadata response")
        value = self.data[self.pos : self.pos + length].decode("utf-8", "replace")
        self.pos += length
        return value


def parse_brokers(response: bytes, correlation_id: int) -> list[tuple[int, str, int]]:
    """(node_id, host, port) of each broker in a Metadata v1 response (the size prefix removed)."""
    reader = _Reader(response)
    if reader.take(">i") != correlation_id:
        raise ProbeError("response to another request")
    brokers = []
    for _ in range(reader.take(">i")):
        node_id = reader.take(">i")
        host = reader.string() or ""
        port = reader.take(">i")
        reader.string()  # rack
        brokers.append((node_id, host, port))
    reader.take(">i")  # controller id
    return brokers


def probe(host: str, port: int, timeout: float) -> list[tuple[int, str, int]]:
    """The brokers a Metadata request to host:port reports; raises OSError or ProbeError."""
    correlation_id = 1
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(metadata_request(correlation_id))
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        if not 0 < size <= MAX_RESPONSE:
            raise ProbeError(f"implausible response size {size}")
        return parse_brokers(_recv_exact(sock, size), correlation_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("bootstrap", help="HOST:PORT of the broker, e.g. 127.0.0.1:9092")
    parser.add_argument("--timeout", type=float, default=1.0, help="socket timeout in seconds (default 1.0)")
    parser.add_argument("--verbose", action="store_true", help="print the brokers or the reason for not ready")
    args = parser.parse_args(argv)
    host, _, port_text = args.bootstrap.rpartition(":")
    if not host or not port_text.isdigit():
        parser.error(f"expected HOST:PORT, got {args.bootstrap!r}")
    try:
        brokers = probe(host, int(port_text), args.timeout)
    except (OSError, ProbeError) as exc:
        if args.verbose:
            print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if not brokers:
        if args.verbose:
            print("not ready: no broker in the metadata", file=sys.stderr)
        return 1
    if args.verbose:
        for node_id, broker_host, broker_port in brokers:
            print(f"broker {node_id} at {broker_host}:{broker_port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
