"""Optional login: a user name and a password before any page, off unless the operator turns it on.

How it fits together: :mod:`.settings` reads and writes the operator's auth file (off when there
is none), :mod:`.passwords` hashes and checks passwords, :mod:`.limiter` counts failed logins per
user name for the whole server process, :mod:`.gate` draws the login form and the logout button,
and ``python -m dashboard.auth add-user NAME`` (:mod:`.__main__`) adds a user.

Why salted bcrypt hashes checked here, rather than ``st.login`` or streamlit-authenticator:

* ``st.login`` is OpenID Connect: it needs an identity provider (Google, Entra ID, a hospital's
  Keycloak) that both the server and the browser can reach. LiverLens is meant to run on an
  offline teaching or research machine, where there is none.
* streamlit-authenticator keeps users in a YAML file into which plain passwords are written to be
  hashed later, remembers logins in a signed browser cookie (a login that outlives the session,
  set through a custom browser component), and comes with registration and password-reset widgets
  the app does not want; its failed-login handling is its own and per session. It uses bcrypt
  itself.
* bcrypt alone is one small, maintained wheel (pyca): a per-password salt, a tunable work factor
  that makes guessing slow, and a constant-time comparison in ``checkpw``. Around it, the code
  here is short enough to read in full, and every path (login on and off, wrong password,
  server-wide lockout, the add-user command) is driven by tests on this machine.
"""
