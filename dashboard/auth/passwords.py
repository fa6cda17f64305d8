"""Hashing and checking passwords with bcrypt (why bcrypt: see :mod:`dashboard.auth`).

A login never tells an unknown user name from a wrong password: both get the same answer, and an
unknown name is checked against a dummy hash of the same cost, so it takes as long as a wrong
password. ``bcrypt.checkpw`` compares the hashes in constant time.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import bcrypt

ROUNDS = 12
"""Work factor (2**12 rounds): about 0.25 s per check on one core here, enough to slow guessing."""
MIN_LENGTH = 12
"""Shortest password ``add-user`` accepts (characters)."""
MAX_BYTES = 72
"""bcrypt reads at most 72 bytes; bcrypt 5 refuses longer input rather than silently cut it."""


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, or None if it may."""
    if not password:
        return "the password is empty"
    if len(password) < MIN_LENGTH:
        return f"the password is shorter than {MIN_LENGTH} characters"
    if len(password.encode("utf-8")) > MAX_BYTES:
        return f"the password is longer than {MAX_BYTES} bytes (bcrypt's limit)"
    return None


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    """A salted bcrypt hash of ``password`` (a fresh random salt each call)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify(users: Mapping[str, str], name: str, password: str) -> bool:
    """True if ``name`` is a user and ``password`` matches its hash.

    An unknown name still costs one bcrypt check, against a dummy hash at the cost the configured
    users have (so a timing cannot say which names exist).
    """
    stored = users.get(name)
    reference = stored if stored is not None else next(iter(users.values()), None)
    cost = int(reference.split("$")[2]) if reference else ROUNDS
    candidate = password.encode("utf-8")
    if len(candidate) > MAX_BYTES:
        candidate = candidate[:MAX_BYTES]  # cannot match (add-user refuses such passwords) but costs the same
        stored = None
    matches = bcrypt.checkpw(candidate, (stored or _dummy_hash(cost)).encode("ascii"))
    return matches and stored is not None


@lru_cache(maxsize=8)
def _dummy_hash(cost: int) -> str:
    """A hash no login can match (its password is random and forgotten), one per cost."""
    return hash_password(bcrypt.gensalt().decode("ascii"), rounds=cost)
