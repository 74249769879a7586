"""Typed reading of configuration from the environment.

Every accessor fails with ``ImproperlyConfigured`` naming the variable and what was wrong, so a
bad deployment stops at start-up instead of misbehaving later. Values are never echoed back in
errors: some of them are secrets.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads variables from ``environ`` and then from ``fallback`` (the dev secrets file)."""

    def __init__(self, environ: Mapping[str, str] | None = None, fallback: Mapping[str, str] = ()):
        self.environ = os.environ if environ is None else environ
        self.fallback = dict(fallback)

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            value = self.fallback.get(name)
        return value

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None or value == "":
            if required or default is None:
                raise ImproperlyConfigured(f"{name} is required but not set")
            return default
        return value

    def optional(self, name: str) -> str | None:
        value = self._raw(name)
        return value or None

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off)")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}")
        return number

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self._raw(name) or default).strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of: {', '.join(choices)}")
        return value

    def path(self, name: str, default: Path) -> Path:
        value = self._raw(name)
        return Path(value).expanduser().resolve() if value else default

    def fernet_keys(self, name: str) -> list[str]:
        """A comma-separated list of Fernet keys, newest (used to encrypt) first."""
        keys = self.list(name, [])
        if not keys:
            raise ImproperlyConfigured(
                f"{name} is required: a comma-separated list of Fernet keys "
                "(make one with `refdesk keys generate`)"
            )
        for position, key in enumerate(keys, start=1):
            if not _is_fernet_key(key):
                raise ImproperlyConfigured(
                    f"{name}: key {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with `refdesk keys generate`)"
                )
        return keys

    def secret(self, name: str, *, min_length: int = 32) -> str:
        value = self.str(name, required=True)
        if len(value) < min_length:
            raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long")
        return value


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE file (the dev secrets file written by ``refdesk.devsecrets``)."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values
