"""Keep secrets out of reports, log lines and failure messages.

Every value read for a secret field of the environment (a password, a token, a DSN) is registered
here, and every text the suite emits goes through `redact`. URL passwords are masked even when
they were never registered (a DSN pasted into an error message by a driver).
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"
# Secrets shorter than this are not searched for: masking "ab" everywhere would garble every message.
MIN_SECRET_LENGTH = 4
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)@")


class Redactor:
    """A set of secret strings and the function that masks them in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._longest_first: tuple[str, ...] = ()  # what redact() searches for, rebuilt on add
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            with self._lock:
                if secret not in self._secrets:
                    self._secrets.add(secret)
                    self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for secret in self._longest_first:  # a tuple replaced whole on add: safe to read without the lock
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" not in text:  # no URL, so no URL password (most texts: a cheap test before the regex)
            return text
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)

    def redact_data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_data(v) for v in value]
        return value
