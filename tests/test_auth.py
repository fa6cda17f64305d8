"""The optional login: off by default, and when on, nothing of any page before a right password.

The app is driven with ``AppTest`` on Home and the pages in ``pages/``; every test writes its own
auth file in a temp folder and points ``$LIVERLENS_AUTH_FILE`` at it, and gets a fresh server-wide
limiter on a fake clock. Test users are hashed at bcrypt's lowest cost (4) to keep the suite fast;
``add-user`` is run for real, at the shipped cost.
"""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import __main__ as cli
from dashboard.auth import gate, passwords, settings
from dashboard.auth.limiter import LoginLimiter
from dashboard.home import DISCLAIMER

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
PAGES = ("pages/diagnose.py", "pages/compare.py", "pages/performance.py", "pages/volume.py", "pages/teaching.py")
TIMEOUT = 120  # the first run imports TensorFlow (through the model registry) on a shared 2-core CPU
PASSWORD = "correct horse battery"
MAX_FAILURES = 3
LOCKOUT_MINUTES = 10


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def test_hashes() -> dict[str, str]:
    """alice and bob, both with ``PASSWORD``, at bcrypt cost 4."""
    return {name: passwords.hash_password(PASSWORD, rounds=4) for name in ("alice", "bob")}


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fresh server-wide limiter on a fake clock, so no test sees another's failures."""
    fake = FakeClock()
    monkeypatch.setattr(gate, "LIMITER", LoginLimiter(clock=fake))
    return fake


@pytest.fixture()
def auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's auth file goes; ``$LIVERLENS_AUTH_FILE`` points there."""
    path = tmp_path / "auth.toml"
    monkeypatch.setenv(settings.AUTH_FILE_ENV, str(path))
    return path


@pytest.fixture()
def login_on(auth_file: Path, test_hashes: dict[str, str], clock: FakeClock) -> Path:
    """Login on, users alice and bob, locked after ``MAX_FAILURES`` failures."""
    settings.write_settings(auth_file, settings.AuthSettings(
        enabled=True, max_failures=MAX_FAILURES, lockout_minutes=LOCKOUT_MINUTES, users=test_hashes))
    return auth_file


def open_app(page: str | None = None) -> AppTest:
    """A new browser session on Home, or on ``page``."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def log_in(at: AppTest, name: str, password: str) -> None:
    """Fill the form and press "Log in"."""
    fields = {field.label: field for field in at.text_input}
    fields["User name"].input(name)
    fields["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


LOGIN_SCREEN = {"main", "title", "caption", "form", "subheader", "text_input", "button", "error"}
"""Every kind of element the login screen is made of; a page's content needs others."""


def only_the_login_screen(at: AppTest) -> bool:
    """The main area holds nothing but the login screen (or its error) under the app's name."""
    return {node.type for node in at.main} <= LOGIN_SCREEN and [t.value for t in at.title] in ([], ["LiverLens"])


def asks_for_login(at: AppTest) -> bool:
    """The login form is on screen."""
    return [field.label for field in at.text_input] == ["User name", "Password"]


def kept_in_session(at: AppTest, password: str) -> bool:
    """The password is still a value of the session's state after it was checked."""
    return any(password in repr(value) for value in at.session_state.to_dict().values())


def errors(at: AppTest) -> list[str]:
    """The error boxes' texts."""
    return [e.value for e in at.error]


def home_content_shown(at: AppTest) -> bool:
    """Home's own content: the shipped-model table and the disclaimer."""
    return bool(at.dataframe) and DISCLAIMER in errors(at)


def page_content_shown(at: AppTest, page: str) -> bool:
    """The page's own title (``pages/diagnose.py`` -> "Diagnose") or any upload box."""
    title = Path(page).stem.capitalize()
    return any(t.value == title for t in at.title) or bool(at.file_uploader)


def logout_button_shown(at: AppTest) -> bool:
    """The sidebar offers "Log out"."""
    return any(b.label == "Log out" for b in at.sidebar.button)


# --- login off ----------------------------------------------------------------------------------

@pytest.mark.parametrize("auth_text", [None, "enabled = false\n"], ids=["no auth file", "enabled = false"])
def test_login_off_shows_home_and_pages_without_asking(auth_text: str | None, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    default = tmp_path / "auth.toml"
    if auth_text is not None:
        default.write_text(auth_text)
    monkeypatch.delenv(settings.AUTH_FILE_ENV, raising=False)
    monkeypatch.setattr(settings, "DEFAULT_AUTH_FILE", default)
    at = open_app()
    assert home_content_shown(at) and not asks_for_login(at) and not logout_button_shown(at)
    at.switch_page("pages/diagnose.py")
    at.run()
    assert page_content_shown(at, "pages/diagnose.py") and not asks_for_login(at)


# --- login on: nothing before the password --------------------------------------------------------

@pytest.mark.parametrize("page", (None, *PAGES))
def test_login_on_shows_no_page_content_before_login(login_on: Path, page: str | None) -> None:
    at = open_app(page)
    assert asks_for_login(at) and only_the_login_screen(at)
    assert not home_content_shown(at)
    if page is not None:
        assert not page_content_shown(at, page)
    assert not logout_button_shown(at)


def test_wrong_password_and_unknown_user_get_the_same_refusal_then_the_right_one_opens(login_on: Path) -> None:
    page = "pages/diagnose.py"
    at = open_app(page)
    log_in(at, "alice", "wrong horse battery")
    assert errors(at) == [gate.REFUSED] and asks_for_login(at) and only_the_login_screen(at)
    assert not kept_in_session(at, "wrong horse battery")
    log_in(at, "mallory", PASSWORD)
    assert errors(at) == [gate.REFUSED] and asks_for_login(at) and only_the_login_screen(at)
    log_in(at, "alice", PASSWORD)
    assert page_content_shown(at, page) and not asks_for_login(at) and not errors(at)
    assert at.session_state[gate.AUTH_USER] == "alice"
    assert not kept_in_session(at, PASSWORD)
    assert logout_button_shown(at)


def test_home_opens_after_login_and_logout_forgets_the_session(login_on: Path) -> None:
    at = open_app()
    assert not home_content_shown(at)
    log_in(at, "bob", PASSWORD)
    assert home_content_shown(at) and logout_button_shown(at)
    at.session_state["active_bundle"] = "an upload of bob's"
    at.button(key=gate.LOGOUT_KEY).click()
    at.run()
    assert asks_for_login(at) and not home_content_shown(at)
    assert gate.AUTH_USER not in at.session_state
    assert at.session_state["active_bundle"] is None  # the defaults again, not bob's upload


def test_a_user_removed_from_the_file_is_logged_out(login_on: Path, test_hashes: dict[str, str]) -> None:
    at = open_app("pages/diagnose.py")
    log_in(at, "alice", PASSWORD)
    assert page_content_shown(at, "pages/diagnose.py")
    settings.write_settings(login_on, settings.AuthSettings(enabled=True, users={"bob": test_hashes["bob"]}))
    at.run()
    assert asks_for_login(at) and not page_content_shown(at, "pages/diagnose.py")


# --- failed logins: a server-wide lockout per user name ------------------------------------------

def test_lockout_after_failures_holds_for_every_session_until_it_expires(login_on: Path, clock: FakeClock) -> None:
    page = "pages/diagnose.py"
    attacker = open_app(page)
    for _ in range(MAX_FAILURES):
        log_in(attacker, "alice", "not the password")
        assert errors(attacker) == [gate.REFUSED]
    log_in(attacker, "alice", PASSWORD)  # the right password, too late
    assert "Too many failed logins" in errors(attacker)[0] and not page_content_shown(attacker, page)
    # A new session (another tab, browser or machine) is locked out as well...
    alice = open_app(page)
    log_in(alice, "alice", PASSWORD)
    assert "Too many failed logins" in errors(alice)[0] and not page_content_shown(alice, page)
    # ...for that user name only,
    bob = open_app(page)
    log_in(bob, "bob", PASSWORD)
    assert page_content_shown(bob, page)
    # and until the lockout has passed.
    clock.now += LOCKOUT_MINUTES * 60 - 1
    log_in(alice, "alice", PASSWORD)
    assert "Try again in 1 minute" in errors(alice)[0]
    clock.now += 2
    log_in(alice, "alice", PASSWORD)
    assert page_content_shown(alice, page) and not errors(alice)


def test_unknown_names_are_locked_like_real_ones(login_on: Path) -> None:
    """Otherwise a lock message would tell which user names exist."""
    at = open_app()
    for _ in range(MAX_FAILURES):
        log_in(at, "mallory", "guess guess guess")
    log_in(at, "mallory", "guess guess guess")
    assert "Too many failed logins" in errors(at)[0]


def test_limiter_forgets_old_failures_and_counts_again_after_a_success() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(clock=clock)
    assert not limiter.record_failure("alice", 2, 60.0)
    clock.now += 61  # older than the period: forgotten
    assert not limiter.record_failure("alice", 2, 60.0)
    limiter.record_success("alice")
    assert not limiter.record_failure("alice", 2, 60.0)
    assert limiter.retry_after("alice") == 0
    assert limiter.record_failure("alice", 2, 60.0)
    assert limiter.retry_after("alice") == 60.0
    clock.now += 60
    assert limiter.retry_after("alice") == 0


# --- a configuration that cannot be used admits nobody -------------------------------------------

@pytest.mark.parametrize("auth_text, shown", [
    ("enable = true\n", "cannot be read"),            # a typo must not leave the app open
    ("enabled = true\n[users]\nalice = 'hunter2'\n", "cannot be read"),  # a plain password, not a hash
    ("enabled = yes\n", "cannot be read"),            # not TOML
    (None, "cannot be read"),                        # $LIVERLENS_AUTH_FILE names a missing file
    ("enabled = true\n", "add-user"),                 # on, but nobody can log in yet
], ids=["unknown key", "plain password", "bad TOML", "missing file", "no users"])
def test_an_unusable_auth_file_shows_no_page(auth_file: Path, clock: FakeClock, auth_text: str | None,
                                            shown: str) -> None:
    if auth_text is not None:
        auth_file.write_text(auth_text)
    for page in (None, "pages/diagnose.py"):
        at = open_app(page)
        assert any(shown in e for e in errors(at)), errors(at)
        assert only_the_login_screen(at) and not at.text_input


# --- passwords and the add-user command ----------------------------------------------------------

def test_verify_accepts_only_the_right_password_of_a_known_user(test_hashes: dict[str, str]) -> None:
    assert passwords.verify(test_hashes, "alice", PASSWORD)
    assert not passwords.verify(test_hashes, "alice", PASSWORD + "!")
    assert not passwords.verify(test_hashes, "carol", PASSWORD)
    assert not passwords.verify({}, "alice", PASSWORD)
    assert not passwords.verify(test_hashes, "alice", PASSWORD + "x" * 80)  # bcrypt's 72-byte limit
    assert test_hashes["alice"] != test_hashes["bob"]  # same password, different salts


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m dashboard.auth ...`` in a fresh process, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "dashboard.auth", *args], input=stdin, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


def test_add_user_writes_a_bcrypt_hash_that_verifies_and_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "auth.toml"
    secret = "Plain-Text-Marker-7f3a"
    done = run_cli("add-user", "alice", "--password-stdin", "--file", str(path), stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    written = path.read_text()
    for output in (written, done.stdout, done.stderr):
        assert secret not in output
    stored = settings.read_settings(path)
    assert stored.enabled  # the first user turns login on
    hashed = stored.users["alice"]
    assert hashed.startswith("$2b$12$") and bcrypt.checkpw(secret.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"another password", hashed.encode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["auth.toml"]  # no temporary file left


def test_add_user_asks_twice_and_keeps_the_other_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       test_hashes: dict[str, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "auth.toml"
    settings.write_settings(path, settings.AuthSettings(enabled=False, max_failures=7, users=test_hashes))
    typed = iter(["a new long password", "a new long password", "one password here", "another one here"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: next(typed))
    assert cli.main(["add-user", "carol", "--file", str(path)]) == 0
    assert "enabled = false" in capsys.readouterr().out  # says that login is still off
    stored = settings.read_settings(path)
    assert not stored.enabled and stored.max_failures == 7
    assert {k: v for k, v in stored.users.items() if k != "carol"} == test_hashes
    assert passwords.verify(stored.users, "carol", "a new long password")
    before = path.read_bytes()
    assert cli.main(["add-user", "carol", "--file", str(path)]) == 1  # the two copies differ
    assert "differ" in capsys.readouterr().err and path.read_bytes() == before


@pytest.mark.parametrize("name, password, reason", [
    ("alice", "", "empty"),
    ("alice", "short", "shorter than"),
    ("alice", "x" * 73, "longer than 72 bytes"),
    ("al ice", "a long enough password", "not allowed"),
    ('alice"\nenabled = false', "a long enough password", "not allowed"),
])
def test_add_user_refuses_bad_passwords_and_names_and_writes_nothing(tmp_path: Path, name: str, password: str,
                                                                     reason: str) -> None:
    path = tmp_path / "auth.toml"
    done = run_cli("add-user", name, "--password-stdin", "--file", str(path), stdin=password + "\n")
    assert done.returncode == 1 and reason in done.stderr
    assert not path.exists()


def test_a_user_added_by_the_command_can_log_in(auth_file: Path, clock: FakeClock) -> None:
    """The operator's whole path: add-user on the file ``$LIVERLENS_AUTH_FILE`` names, then log in."""
    done = run_cli("add-user", "dana", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert str(auth_file) in done.stdout and "Login is on" in done.stdout
    at = open_app()
    assert asks_for_login(at)
    log_in(at, "dana", PASSWORD)
    assert home_content_shown(at)


def test_the_default_auth_file_is_ignored_by_git() -> None:
    """It names the users; a real one must never be committed."""
    relative = settings.DEFAULT_AUTH_FILE.relative_to(REPO)
    ignored = subprocess.run(["git", "check-ignore", "-q", str(relative)], cwd=REPO, check=False)
    assert ignored.returncode == 0, f"{relative} must be listed in .gitignore"
