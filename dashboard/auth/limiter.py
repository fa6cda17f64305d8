"""Failed logins per user name, counted for the whole server process, not per browser session.

A limit kept in ``st.session_state`` would reset with every new tab or cleared cookie; this one is
a module-level object shared by every session's script thread, guarded by a lock. It is not in
``st.cache_resource`` because a cache can be cleared from outside the login code.

After ``max_failures`` failed logins for one name, each within ``lockout_s`` of the previous
one, that name is locked for ``lockout_s``: every login for it is refused, right password or not,
without checking the password. Unknown names are counted like real ones, so the lock says nothing
about which names exist. A successful login clears the count. Memory stays bounded without a cap:
records older than the lockout period are dropped, and each new record costs the caller a bcrypt
check (about 0.25 s of a core), so one period holds at most a few thousand names per core.

The price of a per-name lock, as in every such scheme: whoever knows a user name can keep that
user locked out. Lower ``max_failures`` slows guessing; a longer lockout makes that nuisance worse.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    """The failures of one user name since its last success or expired lock."""

    failures: int
    last_failure: float
    locked_until: float = 0.0


class LoginLimiter:
    """Counts failed logins per user name and says how long a name is still locked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def retry_after(self, name: str) -> float:
        """Seconds until ``name`` may try again; 0 when it is not locked."""
        with self._lock:
            record = self._records.get(name)
            return max(0.0, record.locked_until - self._clock()) if record else 0.0

    def record_failure(self, name: str, max_failures: int, lockout_s: float) -> bool:
        """Count one failed login for ``name``; True if that failure locked it."""
        with self._lock:
            now = self._clock()
            self._forget_stale(now, lockout_s)
            record = self._records.get(name)
            if record is None:
                record = self._records[name] = _Record(failures=0, last_failure=now)
            record.failures += 1
            record.last_failure = now
            if record.failures >= max_failures:
                record.locked_until = now + lockout_s
                record.failures = 0
                return True
            return False

    def record_success(self, name: str) -> None:
        """Forget the failures of ``name`` (its user just logged in)."""
        with self._lock:
            self._records.pop(name, None)

    def _forget_stale(self, now: float, lockout_s: float) -> None:
        """Drop names whose lock has expired and whose last failure is older than the period."""
        stale = [name for name, record in self._records.items()
                 if record.locked_until <= now and now - record.last_failure > lockout_s]
        for name in stale:
            del self._records[name]


LIMITER = LoginLimiter()
"""The one limiter of this server process."""
