"""Users, roles and passwords of the console: who may do what, and how a password is checked.

Passwords are hashed with Argon2id (``argon2-cffi``'s defaults, RFC 9106 low-memory profile); the
store keeps only the hash. Roles are fixed: an ``investigator`` opens account and operation pages
and records decisions, ``it`` sees the site overview only, a ``data-scientist`` exports the
decisions as training labels, an ``admin`` manages users and reads the audit trail. Everyone
signed in sees the overview. Nobody but an investigator opens a person's record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger(__name__)

ROLES: Final = ("investigator", "it", "data-scientist", "admin")

#: permission -> roles that hold it
PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "overview": frozenset(ROLES),
    "queue": frozenset({"investigator"}),
    "account": frozenset({"investigator"}),
    "operation": frozenset({"investigator"}),
    "decide": frozenset({"investigator"}),
    "labels": frozenset({"data-scientist"}),
    "users": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}
#: where each role lands after signing in
HOME: Final[dict[str, str]] = {
    "investigator": "/queue",
    "it": "/overview",
    "data-scientist": "/labels",
    "admin": "/admin/audit",
}
MIN_PASSWORD_LENGTH: Final = 12

_hasher = PasswordHasher()
#: verified against when the user does not exist, so that an unknown name takes as long as a wrong password
_DUMMY_HASH: Final = _hasher.hash("not-a-password-of-anyone")


def allowed(role: str, permission: str) -> bool:
    """Whether a role holds a permission."""
    return role in PERMISSIONS.get(permission, frozenset())


def check_role(role: str) -> str:
    """The role, or ValueError naming the valid ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """An Argon2id hash of a password (refuses passwords shorter than MIN_PASSWORD_LENGTH)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash; constant work when there is no hash (unknown user)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class LoginThrottle:
    """Login rate limiting: at most ``max_failures`` failed logins per client address and per user
    name in a sliding ``window_s``; beyond that, attempts are refused until the window has passed.
    In memory (one console process); a restart forgets it, which only ever relaxes it."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, clock: object = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _now(self) -> float:
        clock = self._clock
        assert callable(clock)
        return float(clock())

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures[key]
        while found and now - found[0] > self.window_s:
            found.popleft()
        return found

    def retry_after(self, address: str, username: str) -> float:
        """Seconds until this address and user may try again (0: now)."""
        now = self._now()
        with self._lock:
            wait = 0.0
            for key in (f"ip:{address}", f"user:{username.lower()}"):
                found = self._recent(key, now)
                if len(found) >= self.max_failures:
                    wait = max(wait, self.window_s - (now - found[0]))
            return wait

    def failed(self, address: str, username: str) -> None:
        """Count a failed attempt."""
        now = self._now()
        with self._lock:
            for key in (f"ip:{address}", f"user:{username.lower()}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        """A successful login clears the user's failures (not the address's)."""
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)
