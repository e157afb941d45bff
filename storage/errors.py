"""What can go wrong with the store, as exceptions the CLI can turn into clear messages and exit codes.

``StoreUnavailable`` is the transient kind (the store cannot be reached now: a writer retries it);
``StoreQueryError`` is the permanent kind (the store refused a statement: retrying will not help).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every storage error; the message is meant for a person."""


class StoreUrlError(StoreError, ValueError):
    """A store URL that cannot be used (wrong scheme, missing path or host, bad database name)."""


class StoreUnavailable(StoreError):  # noqa: N818 - the name the wiring uses
    """The store cannot be reached (server down, refused, timed out, embedded store locked)."""


class StoreQueryError(StoreError):
    """The store received a statement and refused it (bad SQL, wrong types, missing table)."""


class UnknownAccount(StoreError, LookupError):  # noqa: N818 - the name the wiring uses
    """No history at all for this account id (no events, verdicts, flags or decisions)."""

    def __init__(self, account_id: str) -> None:
        super().__init__(
            f"unknown account {account_id!r}: the store has no events, verdicts, flags or decisions for it"
        )
        self.account_id = account_id
