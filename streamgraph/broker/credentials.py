"""The users and passwords of one secured local broker, kept in a 0600 file of its data folder.

Passwords are random per broker (`secrets.token_urlsafe`: letters, digits, '-' and '_', so they
need no quoting in JAAS or in the storage tool's `--add-scram` syntax). They are read from and
written to `credentials.json` only; nothing here ever formats one into a message or a repr.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from pathlib import Path

from streamgraph.broker.certificates import write_secret_text

#: The user with every right: a super user of the broker (see secure_config.super_users).
ADMIN_USER = "admin"
# a user name becomes a certificate CN, a JAAS option name and a file name: keep it plain
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Credentials:
    """User name -> password of one broker; `password()` makes and saves a new user's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._passwords: dict[str, str] = {}
        if path.is_file():
            self._passwords = dict(json.loads(path.read_text()))

    @property
    def users(self) -> list[str]:
        return sorted(self._passwords)

    def knows(self, user: str) -> bool:
        return user in self._passwords

    def password(self, user: str) -> str:
        """The password of `user`, made (and saved) if the user is new."""
        check_user_name(user)
        if user not in self._passwords:
            self._passwords[user] = secrets.token_urlsafe(24)
            self._save()
        return self._passwords[user]

    def forget(self, user: str) -> None:
        """Drop `user` (its creation on the broker failed: the next call tries again)."""
        if self._passwords.pop(user, None) is not None:
            self._save()

    def secrets(self) -> list[str]:
        """Every password (for redacting text that may quote one, and for the leak tests)."""
        return list(self._passwords.values())

    def redact(self, text: str) -> str:
        """`text` with every password replaced by [hidden] (e.g. a failing tool's output)."""
        for password in self._passwords.values():
            text = text.replace(password, "[hidden]")
        return text

    def __repr__(self) -> str:
        return f"Credentials({str(self.path)!r}, users={self.users})"

    def _save(self) -> None:
        write_secret_text(self.path, json.dumps(self._passwords, indent=2) + "\n")


def check_user_name(user: str) -> None:
    if not _NAME.match(user):
        raise ValueError(
            f"user name {user!r}: use 1 to 64 letters, digits, '.', '_' or '-' "
            "(it becomes a certificate CN and a file name)"
        )


def unsecured_jwt(subject: str, lifetime_s: float = 3600.0) -> str:
    """An unsecured JWT (`alg: none`) for SASL/OAUTHBEARER against the local broker.

    The broker validates it with Kafka's default unsecured validator, which checks only its
    form, `sub`, `iat` and `exp`: the principal is `sub`. Development and tests only.
    """

    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    now = time.time()
    claims = {"sub": subject, "iat": int(now), "exp": int(now + lifetime_s)}
    # header.payload. with an empty signature, as the unsecured JWS form requires
    return f"{part({'alg': 'none'})}.{part(claims)}."


__all__ = ["ADMIN_USER", "Credentials", "check_user_name", "unsecured_jwt"]
