"""``python -m dashboard.auth add-user NAME``: add a user, or give one a new password.

The password is asked twice without echo (``getpass``), or read from the first line of standard
input with ``--password-stdin`` (for scripts: ``printf '%s\\n' "$PW" | python -m dashboard.auth
add-user NAME --password-stdin``). Only its bcrypt hash is written to the auth file. A new auth
file is written with ``enabled = true``: adding the first user is how an operator turns login on.
The running app reads the file on every click, so no restart is needed.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dashboard.auth import passwords
from dashboard.auth.settings import (
    AUTH_FILE_ENV,
    AuthFileError,
    auth_file,
    check_user_name,
    read_settings,
    with_user,
    write_settings,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 refused)."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.auth",
                                     description="Manage the users of LiverLens' optional login.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-user", help="add a user, or set a new password for one")
    add.add_argument("name", help="user name: 1-64 letters, digits, _ . @ -")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input instead of asking")
    add.add_argument("--file", type=Path, default=None,
                     help=f"auth file (default: ${AUTH_FILE_ENV}, else .streamlit/auth.toml)")
    args = parser.parse_args(argv)

    path = args.file or auth_file()
    try:
        check_user_name(args.name)
        settings = read_settings(path)
    except (ValueError, AuthFileError) as err:
        return _refuse(str(err))
    password = _read_password(args.name, from_stdin=args.password_stdin)
    if password is None:
        return _refuse("the two passwords differ")
    if problem := passwords.password_problem(password):
        return _refuse(problem)
    if not path.is_file():
        settings = replace(settings, enabled=True)  # a new file: adding the first user turns login on
    existed = args.name in settings.users
    write_settings(path, with_user(settings, args.name, passwords.hash_password(password)))
    print(f"{'New password for' if existed else 'Added'} user {args.name!r} in {path}.")
    print("Login is on; a running app asks for it from its next click." if settings.enabled else
          f"Login is off in this file (enabled = false); set enabled = true in {path} to turn it on.")
    return 0


def _read_password(name: str, *, from_stdin: bool) -> str | None:
    """The new password, or None if the two typed copies differ."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New password for {name}: ")
    second = getpass.getpass("Same password again: ")
    return first if first == second else None


def _refuse(reason: str) -> int:
    """Say why nothing was written; exit status 1."""
    print(f"error: {reason}; nothing written.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
