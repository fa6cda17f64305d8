"""The operator's auth file: whether login is on, the lockout policy, and the users' hashes.

It is a TOML file, ``.streamlit/auth.toml`` in the repository unless ``$LIVERLENS_AUTH_FILE``
names another path, and it is git-ignored because it names the users::

    enabled = true
    max_failures = 5        # failed logins for one user name before it is locked
    lockout_minutes = 15    # how long it then stays locked, for every session of the server

    [users]
    "alice" = "$2b$12$..."  # bcrypt hash written by `python -m dashboard.auth add-user alice`

No file means login off, so ``streamlit run streamlit_app.py`` works as before. Everything else
fails closed: a file that cannot be parsed, an unknown key (``enable = true`` must not quietly
leave the app open) or a ``$LIVERLENS_AUTH_FILE`` that names a missing file raises
:class:`AuthFileError`, and the gate then shows no page at all.

Why not Streamlit's ``secrets.toml``: its ``[auth]`` section is ``st.login``'s (OpenID Connect)
configuration, and ``st.secrets`` is read-only, whereas ``add-user`` writes this file.
"""
from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

AUTH_FILE_ENV = "LIVERLENS_AUTH_FILE"
"""Environment variable holding the auth file's path (the default is :data:`DEFAULT_AUTH_FILE`)."""
DEFAULT_AUTH_FILE = Path(__file__).resolve().parents[2] / ".streamlit" / "auth.toml"
"""Next to Streamlit's own ``config.toml``, whatever directory the server was started from."""

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
"""Allowed user names: short, printable and safe to write as a TOML key without escaping."""
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
"""A bcrypt hash in its modular crypt form: version, cost, 22 characters of salt, 31 of hash."""

HEADER = (
    "# LiverLens login settings (README, \"Serving\"). This file names the users: never commit it.\n"
    "# Add a user or set a new password with: python -m dashboard.auth add-user NAME\n"
    "# Passwords are stored as salted bcrypt hashes only.\n"
)


class AuthFileError(Exception):
    """The auth file exists (or is required) but cannot be used; login then admits nobody."""


@dataclass(frozen=True)
class AuthSettings:
    """What the auth file says; the defaults are those of a server with no auth file."""

    enabled: bool = False
    max_failures: int = 5
    lockout_minutes: float = 15.0
    users: Mapping[str, str] = field(default_factory=dict)
    """User name -> bcrypt hash."""

    @property
    def lockout_s(self) -> float:
        """The lockout period in seconds, as the limiter counts it."""
        return self.lockout_minutes * 60.0


def auth_file() -> Path:
    """The auth file this server uses: ``$LIVERLENS_AUTH_FILE`` if set, else the default path."""
    configured = os.environ.get(AUTH_FILE_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_AUTH_FILE


def current_settings() -> AuthSettings:
    """The server's settings, read afresh (a new user or ``enabled = false`` needs no restart).

    A path set in ``$LIVERLENS_AUTH_FILE`` must exist: the operator asked for login there.
    """
    path = auth_file()
    if os.environ.get(AUTH_FILE_ENV) and not path.is_file():
        raise AuthFileError(f"{AUTH_FILE_ENV} names {path}, which is not a file")
    return read_settings(path)


def read_settings(path: Path) -> AuthSettings:
    """Parse and check ``path``; a missing file gives the defaults (login off)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AuthSettings()
    except OSError as err:
        raise AuthFileError(f"cannot read {path}: {err.strerror}") from err
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as err:
        raise AuthFileError(f"{path} is not valid TOML: {err}") from err
    return _checked(data, path)


def _checked(data: dict[str, Any], path: Path) -> AuthSettings:
    """Settings from parsed TOML, refusing unknown keys and values of the wrong type."""
    unknown = set(data) - {"enabled", "max_failures", "lockout_minutes", "users"}
    if unknown:
        raise AuthFileError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    enabled = data.get("enabled", False)
    max_failures = data.get("max_failures", AuthSettings.max_failures)
    lockout = data.get("lockout_minutes", AuthSettings.lockout_minutes)
    users = data.get("users", {})
    if not isinstance(enabled, bool):
        raise AuthFileError(f"{path}: enabled must be true or false")
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1:
        raise AuthFileError(f"{path}: max_failures must be a whole number >= 1")
    if isinstance(lockout, bool) or not isinstance(lockout, int | float) or lockout <= 0:
        raise AuthFileError(f"{path}: lockout_minutes must be a number > 0")
    if not isinstance(users, dict):
        raise AuthFileError(f"{path}: [users] must be a table of name = \"bcrypt hash\"")
    for name, hashed in users.items():
        if not USER_NAME.fullmatch(name):
            raise AuthFileError(f"{path}: user name {name!r} is not allowed (letters, digits, _ . @ -)")
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed):
            raise AuthFileError(f"{path}: the entry of user {name!r} is not a bcrypt hash")
    return AuthSettings(enabled=enabled, max_failures=max_failures, lockout_minutes=float(lockout),
                        users=dict(users))


def check_user_name(name: str) -> None:
    """Raise ValueError, saying what is allowed, unless ``name`` matches :data:`USER_NAME`."""
    if not USER_NAME.fullmatch(name):
        raise ValueError(f"user name {name!r} is not allowed: 1-64 letters, digits, _ . @ -, "
                         "starting with a letter or digit")


def with_user(settings: AuthSettings, name: str, hashed: str) -> AuthSettings:
    """``settings`` with user ``name`` added, or its hash replaced (a new password)."""
    check_user_name(name)
    return replace(settings, users={**settings.users, name: hashed})


def render(settings: AuthSettings) -> str:
    """The TOML text of ``settings``; names and hashes need no escaping (see the patterns above)."""
    minutes = settings.lockout_minutes
    lines = [
        HEADER,
        f"enabled = {'true' if settings.enabled else 'false'}",
        f"max_failures = {settings.max_failures}",
        f"lockout_minutes = {int(minutes) if float(minutes).is_integer() else minutes}",
        "",
        "[users]",
        *(f'"{name}" = "{hashed}"' for name, hashed in sorted(settings.users.items())),
    ]
    return "\n".join(lines) + "\n"


def write_settings(path: Path, settings: AuthSettings) -> None:
    """Replace ``path`` atomically with a file readable by its owner only.

    Written to a temporary file in the same folder, then renamed over the old one, so the running
    app never reads half a file; ``mkstemp`` creates it with mode 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(render(settings))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
